package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/app"
	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/testprovider"
)

// startRPInProcess runs rp on the memory store in this process (internal/app,
// the same handler as the binary), on a loopback listener, its log in the
// log directory as name.log: the memory store lives in rp's process, so
// only there can it be filled or measured. stop stops it.
func startRPInProcess(h *Harness, op *testprovider.Provider, name string) (a *app.App, base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	base = "http://" + ln.Addr().String()
	env := map[string]string{"RP_ISSUER": op.Issuer, "RP_CLIENT_ID": op.ClientID, "RP_CLIENT_SECRET": op.ClientSecret,
		"RP_BASE_URL": base, "RP_SESSION_STORE": "memory"}
	for _, kv := range h.Opts.RPEnv {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RP_") {
			env[k] = v
		}
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		ln.Close()
		return nil, "", nil, fmt.Errorf("rp's settings: %w", err)
	}
	logf, err := os.Create(filepath.Join(h.LogDir, name+".log"))
	if err != nil {
		ln.Close()
		return nil, "", nil, err
	}
	a, err = app.New(h.Ctx, cfg, app.Options{Logger: app.NewLogger(cfg, logf)})
	if err == nil {
		if err = a.OIDC.Discover(h.Ctx); err != nil {
			a.Close()
		}
	}
	if err != nil {
		ln.Close()
		logf.Close()
		return nil, "", nil, fmt.Errorf("starting rp in process: %w", err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return a, base, func() {
		_ = srv.Close()
		_ = a.Close()
		logf.Close()
	}, nil
}
