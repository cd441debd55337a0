package main

import (
	"context"
	"io"

	"github.com/rp-project/rp/internal/doctor"
)

// runDoctor runs `rp doctor`: the configuration checked against the live
// provider. Exit status 0 only when nothing is wrong.
func runDoctor(args []string, getenv func(string) string, out io.Writer) int {
	cfg, code, ok := loadConfig("rp doctor", args, getenv, out)
	if !ok {
		return code
	}
	if !doctor.Print(out, cfg, doctor.Check(context.Background(), cfg, doctor.Options{})) {
		return 1
	}
	return 0
}
