package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type countingWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.b.Write(p)
}

func (c *countingWriter) state() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String(), c.writes
}

// TestBatchesAndKeepsEveryLine: many lines make few writes, every line
// arrives whole and in order, and Close leaves nothing behind.
func TestBatchesAndKeepsEveryLine(t *testing.T) {
	var out countingWriter
	w := New(&out, time.Hour) // only the batch size and Close flush here
	var want strings.Builder
	for i := range 5000 {
		line := strings.Repeat("x", i%200) + "\n"
		want.WriteString(line)
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.state()
	if got != want.String() {
		t.Fatal("lines lost, cut or reordered")
	}
	if writes > len(want.String())/maxBatch+1 {
		t.Fatalf("%d writes for %d bytes", writes, len(got))
	}
	// After Close, writes go straight through.
	w.Write([]byte("late\n"))
	if got, _ := out.state(); !strings.HasSuffix(got, "late\n") {
		t.Fatal("a write after Close was kept")
	}
}

// TestFlushesAfterTheDelay: a quiet log is written out by itself.
func TestFlushesAfterTheDelay(t *testing.T) {
	var out countingWriter
	w := New(&out, time.Millisecond)
	defer w.Close()
	w.Write([]byte("one\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := out.state(); got == "one\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the buffered line was never written")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLargeWriteAndConcurrency: a record bigger than a batch passes whole,
// and concurrent writers' lines are never interleaved.
func TestLargeWriteAndConcurrency(t *testing.T) {
	var out countingWriter
	w := New(&out, time.Millisecond)
	big := strings.Repeat("b", maxBatch+10) + "\n"
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				w.Write([]byte(strings.Repeat(string(rune('a'+g)), 50) + "\n"))
			}
		}()
	}
	w.Write([]byte(big))
	wg.Wait()
	w.Close()
	got, _ := out.state()
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if l != big[:len(big)-1] && (len(l) != 50 || strings.Count(l, l[:1]) != 50) {
			t.Fatalf("a line was interleaved or cut: %.80q", l)
		}
	}
	if n := strings.Count(got, "\n"); n != 8*500+1 {
		t.Fatalf("%d lines, want %d", n, 8*500+1)
	}
}

// slowWriter takes its time, so writes pile up behind a flush.
type slowWriter struct{ countingWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.countingWriter.Write(p)
}

// TestCloseLeavesNothingBehind: writes racing Close are either flushed by
// it or written straight through after it; none stays buffered.
func TestCloseLeavesNothingBehind(t *testing.T) {
	for range 20 {
		var out slowWriter
		w := New(&out, time.Hour)
		w.Write([]byte("first\n"))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				w.Write([]byte("racing\n"))
			}()
		}
		close(start)
		w.Close()
		wg.Wait()
		if got, _ := out.state(); strings.Count(got, "\n") != 9 {
			t.Fatalf("after Close and every write returned, %d of 9 lines were written", strings.Count(got, "\n"))
		}
	}
}
