// Package logbuf batches log lines into fewer writes. rp writes one line
// per request; written one by one, each is a system call (about 6% of rp's
// CPU time under load). A Writer keeps lines in memory for at most a short
// delay, or until a batch is full, and writes them together.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// maxBatch is the most a Writer keeps before it writes: a batch fills in
// a few milliseconds under load, and a write of it stays cheap.
const maxBatch = 64 << 10

// Writer buffers whole writes (slog writes one record per call) and
// passes them to the underlying writer at most delay after the first one
// was buffered, at once when maxBatch is reached, and on Flush and Close.
// It is safe for concurrent use.
type Writer struct {
	w     io.Writer
	delay time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // armed while buf holds something
	closed bool
	err    error // the underlying writer's last error, reported by Flush
}

// New returns a Writer in front of w.
func New(w io.Writer, delay time.Duration) *Writer {
	return &Writer{w: w, delay: delay, buf: make([]byte, 0, maxBatch)}
}

// Write buffers p. It never fails: a failure of the underlying writer is
// reported by the next Flush or Close (a log line cannot do better).
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		_, err := b.w.Write(p) // after Close, lines go straight through
		return len(p), err
	}
	if len(b.buf)+len(p) > maxBatch {
		b.flushLocked()
	}
	if len(p) >= maxBatch {
		_, err := b.w.Write(p)
		return len(p), err
	}
	b.buf = append(b.buf, p...)
	if b.timer == nil {
		b.timer = time.AfterFunc(b.delay, b.timed)
	}
	return len(p), nil
}

func (b *Writer) timed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer = nil
	b.flushLocked()
}

// flushLocked writes the batch; b.mu is held.
func (b *Writer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil {
		b.err = err
	}
	b.buf = b.buf[:0]
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}

// Flush writes what is buffered now.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	err := b.err
	b.err = nil
	return err
}

// Close flushes and makes later writes go straight through, in one locked
// section: no write can slip into the buffer after the flush.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	err := b.err
	b.err = nil
	return err
}
