package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rp-project/rp/internal/config"
	"github.com/rp-project/rp/internal/doctor"
)

// runDoctor runs `rp doctor`: the configuration checked against the live
// provider. Exit status 0 only when nothing is wrong.
func runDoctor(args []string, getenv func(string) string, out io.Writer) int {
	cfg, err := config.Load(args, getenv, out)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(out, "rp doctor: invalid configuration:\n%v\n", err)
		return 2
	}
	if !doctor.Print(out, cfg, doctor.Check(context.Background(), cfg, doctor.Options{})) {
		return 1
	}
	return 0
}
