package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator: a fixed number of keep-alive HTTP/1.1 connections,
// each with one request in flight at a time (no pipelining), each sending
// the same prepared request bytes and reading the answer with a small
// parser of its own. It is far cheaper per request than net/http's client,
// so that on a small machine most of the CPU goes to the server under test;
// it is the same code, with the same settings, for every target.

// Request is what every connection sends, prepared once.
type Request struct {
	Host   string      // host:port, also the Host header
	Path   string      // e.g. "/"
	Header [][2]string // extra headers, in order (e.g. Cookie)
}

// Bytes is the request on the wire.
func (r Request) Bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: rpbench\r\nAccept: */*\r\n", r.Path, r.Host)
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// WithoutHeader returns r without the headers named name.
func (r Request) WithoutHeader(name string) Request {
	out := r
	out.Header = slices.DeleteFunc(slices.Clone(r.Header), func(h [2]string) bool { return h[0] == name })
	return out
}

// LoadOptions are the same for every target of a run.
type LoadOptions struct {
	Connections int
	Warmup      time.Duration
	Duration    time.Duration
	// Contains: a successful answer's body holds want somewhere, rather
	// than being exactly want (pages that show the time, e.g. "5 minutes
	// ago").
	Contains bool
	// Phase, when set, is called with true when the measured window starts
	// and with false when it ends (to sample the server's CPU time).
	Phase func(measuring bool)
	// Requests, when positive, ends the run after that many requests
	// (answered or failed), every one of them measured: Warmup must be 0
	// and Phase nil, and Duration only bounds the run.
	Requests int64
	// Accept, when set, decides from its status alone whether an answer
	// is a success (e.g. a 303 to the provider), instead of "200 with the
	// expected body".
	Accept func(status int) bool
	// Next, when set, gives the bytes of the nth request (0, 1, ...),
	// instead of the same request repeated: requests that must differ,
	// such as forged states that are each new to the server. It is called
	// from every connection's goroutine at once.
	Next func(n int64) []byte
}

// LoadResult is one measured window.
type LoadResult struct {
	OK         int64         // 200 answers with the expected body, completed inside the window
	Errors     int64         // other answers, and failed requests, inside the window
	Window     time.Duration // the measured window (with Requests: from the start to the last answer)
	P50, P99   time.Duration
	Max        time.Duration
	Reconnects int64    // connections the server closed after a complete answer
	Samples    []string // the first few errors, described
	// Statuses counts the answers inside the window by status.
	Statuses map[int]int64
}

// RPS is successful requests per second.
func (r LoadResult) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.OK) / r.Window.Seconds()
}

// Load runs req against the server for o.Warmup then o.Duration, and
// measures the second part. Only 200 answers whose body is exactly want
// count as successes; everything else is an error.
func Load(ctx context.Context, req Request, want []byte, o LoadOptions) (LoadResult, error) {
	if o.Connections < 1 {
		return LoadResult{}, errors.New("need at least one connection")
	}
	if o.Requests > 0 && (o.Warmup != 0 || o.Phase != nil) {
		return LoadResult{}, errors.New("a run of a number of requests has no warm-up and no phases")
	}
	raw := req.Bytes()
	var sent atomic.Int64 // requests begun, with Requests or Next
	begin := time.Now()
	start := begin.Add(o.Warmup)
	end := start.Add(o.Duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(time.Second))
	defer cancel()

	var phases sync.WaitGroup
	defer phases.Wait() // Phase(false) has run when Load returns
	if o.Phase != nil {
		phases.Go(func() {
			t := time.NewTimer(time.Until(start))
			defer t.Stop()
			select {
			case <-t.C:
				o.Phase(true)
			case <-ctx.Done():
				return
			}
			t.Reset(time.Until(end))
			select {
			case <-t.C:
				o.Phase(false)
			case <-ctx.Done():
			}
		})
	}

	type tally struct {
		ok, errs, reconnects int64
		lat                  []time.Duration
		samples              []string
		statuses             [1000]int64 // the parser reads three digits
		last                 time.Time   // the last answer's end
	}
	tallies := make([]tally, o.Connections)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() {
			t := &tallies[i]
			t.lat = make([]time.Duration, 0, 4096)
			fail := func(s string) {
				t.errs++
				if len(t.samples) < 3 {
					t.samples = append(t.samples, s)
				}
			}
			var c *clientConn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for ctx.Err() == nil {
				if c == nil {
					var err error
					c, err = dial(ctx, req.Host, end.Add(10*time.Second))
					if err != nil {
						if now := time.Now(); now.After(start) && now.Before(end) {
							fail("connecting: " + err.Error())
						}
						select {
						case <-ctx.Done():
						case <-time.After(10 * time.Millisecond):
						}
						continue
					}
				}
				msg := raw
				if o.Requests > 0 || o.Next != nil {
					n := sent.Add(1) - 1
					if o.Requests > 0 && n >= o.Requests {
						return
					}
					if o.Next != nil {
						msg = o.Next(n)
					}
				}
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				a, err := c.do(msg, want, o.Contains, false)
				t1 := time.Now()
				t.last = t1
				inWindow := !t0.Before(start) && !t1.After(end)
				if err != nil {
					c.Close()
					c = nil
					if inWindow && ctx.Err() == nil {
						fail(err.Error())
					}
					continue
				}
				if inWindow {
					t.lat = append(t.lat, t1.Sub(t0))
					t.statuses[a.Status]++
					switch {
					case o.Accept != nil && o.Accept(a.Status):
						t.ok++
					case o.Accept != nil || a.Status != 200:
						fail(fmt.Sprintf("status %d", a.Status))
					case !a.BodyOK:
						fail("200 with another body than the expected one")
					default:
						t.ok++
					}
				}
				if a.Close {
					c.Close()
					c = nil
					t.reconnects++
				}
			}
		})
	}
	wg.Wait()

	res := LoadResult{Window: o.Duration, Statuses: map[int]int64{}}
	var lat []time.Duration
	var last time.Time
	for _, t := range tallies {
		res.OK += t.ok
		res.Errors += t.errs
		res.Reconnects += t.reconnects
		lat = append(lat, t.lat...)
		for status, n := range t.statuses {
			if n > 0 {
				res.Statuses[status] += n
			}
		}
		if t.last.After(last) {
			last = t.last
		}
		for _, s := range t.samples {
			if len(res.Samples) < 5 && !slices.Contains(res.Samples, s) {
				res.Samples = append(res.Samples, s)
			}
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	if o.Requests > 0 && last.After(begin) {
		res.Window = last.Sub(begin) // until the last answer
	}
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return res, nil
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := (n*p + 99) / 100 // ceil(n*p/100)
	return sorted[max(i, 1)-1]
}

// clientConn is one keep-alive connection of the load generator.
type clientConn struct {
	net.Conn
	br   *bufio.Reader
	body []byte
}

func dial(ctx context.Context, addr string, deadline time.Time) (*clientConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, err
	}
	return &clientConn{Conn: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

// Answer is what the parser kept of a response.
type Answer struct {
	Status int
	BodyOK bool              // the body was exactly the expected one
	Close  bool              // the server will close the connection
	Header map[string]string // only when asked for (verification), lower-case names
	Body   []byte            // only when asked for (verification)
}

var errMalformed = errors.New("malformed HTTP response")

// Do sends raw and reads one response.
func (c *clientConn) Do(raw, want []byte) (Answer, error) {
	return c.do(raw, want, false, false)
}

// do sends raw and reads one response; BodyOK tells whether the body is
// want, or with contains holds it; keep keeps the headers and body.
func (c *clientConn) do(raw, want []byte, contains, keep bool) (Answer, error) {
	var a Answer
	if _, err := c.Write(raw); err != nil {
		return a, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return a, fmt.Errorf("reading the status line: %w", err)
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return a, errMalformed
	}
	a.Status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || a.Status < 100 {
		return a, errMalformed
	}
	http10 := line[7] == '0'
	a.Close = http10
	contentLength, chunked := int64(-1), false
	if keep {
		a.Header = map[string]string{}
	}
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return a, fmt.Errorf("reading headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return a, errMalformed
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			if contentLength, err = strconv.ParseInt(string(v), 10, 64); err != nil || contentLength < 0 {
				return a, errMalformed
			}
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = asciiEqualFold(v, "chunked")
		case asciiEqualFold(k, "connection"):
			if asciiContainsFold(v, "close") {
				a.Close = true
			} else if http10 && asciiContainsFold(v, "keep-alive") {
				a.Close = false
			}
		}
		if keep {
			a.Header[string(bytes.ToLower(k))] = string(v)
		}
	}
	c.body = c.body[:0]
	switch {
	case a.Status/100 == 1 || a.Status == 204 || a.Status == 304:
	case chunked:
		if err := c.readChunked(); err != nil {
			return a, err
		}
	case contentLength >= 0:
		if int64(cap(c.body)) < contentLength {
			c.body = make([]byte, contentLength)
		}
		c.body = c.body[:contentLength]
		if _, err := io.ReadFull(c.br, c.body); err != nil {
			return a, fmt.Errorf("reading the body: %w", err)
		}
	default: // the body ends with the connection
		b, err := io.ReadAll(c.br)
		if err != nil {
			return a, fmt.Errorf("reading the body: %w", err)
		}
		c.body, a.Close = b, true
	}
	if contains {
		a.BodyOK = bytes.Contains(c.body, want)
	} else {
		a.BodyOK = bytes.Equal(c.body, want)
	}
	if keep {
		a.Body = slices.Clone(c.body)
	}
	return a, nil
}

func (c *clientConn) readChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading a chunk size: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return errMalformed
		}
		if n == 0 {
			for { // trailers, then the empty line
				line, err := c.br.ReadSlice('\n')
				if err != nil {
					return fmt.Errorf("reading trailers: %w", err)
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		old := len(c.body)
		c.body = slices.Grow(c.body, int(n))[:old+int(n)]
		if _, err := io.ReadFull(c.br, c.body[old:]); err != nil {
			return fmt.Errorf("reading a chunk: %w", err)
		}
		if line, err := c.br.ReadSlice('\n'); err != nil || len(bytes.TrimRight(line, "\r\n")) != 0 {
			return errMalformed
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func asciiContainsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Probe sends req once on a new connection and returns the whole answer
// (for the checks before and after a measurement); BodyOK tells whether
// the body is exactly want.
func Probe(ctx context.Context, req Request, want []byte) (Answer, error) {
	return probe(ctx, req, want, false)
}

// ProbeContains is Probe with BodyOK telling whether the body holds want.
func ProbeContains(ctx context.Context, req Request, want []byte) (Answer, error) {
	return probe(ctx, req, want, true)
}

func probe(ctx context.Context, req Request, want []byte, contains bool) (Answer, error) {
	c, err := dial(ctx, req.Host, time.Now().Add(10*time.Second))
	if err != nil {
		return Answer{}, err
	}
	defer c.Close()
	return c.do(req.Bytes(), want, contains, true)
}
