package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealthcheck runs `rp healthcheck`: it asks the rp listening on RP_ADDR
// for /readyz, so that images without a shell or curl can have a container
// health check. Exit status 0 when ready.
func runHealthcheck(args []string, getenv func(string) string, w io.Writer) int {
	cfg, code, ok := loadConfig("rp healthcheck", args, getenv, w)
	if !ok {
		return code
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		fmt.Fprintf(w, "rp healthcheck: RP_ADDR %q: %v\n", cfg.Addr, err)
		return 2
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + cfg.PathPrefix + "/readyz")
	if err != nil {
		fmt.Fprintf(w, "rp healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(w, "rp healthcheck: not ready: %s %s\n", resp.Status, body)
		return 1
	}
	return 0
}
