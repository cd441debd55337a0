package app

import (
	"context"
	"io"
	"log/slog"

	"github.com/rp-project/rp/internal/config"
)

// NewLogger returns the logger cfg asks for, writing to w. When w buffers
// (it has Flush, as logbuf.Writer does), records at WARN and above are
// flushed at once: a security event or an error is not kept waiting
// behind the request lines.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	if f, ok := w.(flusher); ok {
		h = flushingHandler{Handler: h, f: f}
	}
	return slog.New(h)
}

type flusher interface{ Flush() error }

// flushingHandler flushes its writer after each record at WARN or above.
type flushingHandler struct {
	slog.Handler
	f flusher
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.f.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithAttrs(as), f: h.f}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithGroup(name), f: h.f}
}
