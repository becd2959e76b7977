package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/intake-dev/intake/internal/config"
)

// runHealthcheck exits 0 iff GET URL answers 200. The URL defaults to
// /health on INTAKE_HTTP_ADDR, with a wildcard host replaced by loopback.
// Distroless images have no curl; Docker's HEALTHCHECK runs this.
func runHealthcheck(ctx context.Context, args, environ []string, stdout, _ io.Writer) error {
	if len(args) > 1 {
		return usageError("healthcheck: at most one URL")
	}
	var target string
	if len(args) == 1 {
		target = args[0] //nolint:gosec // G602 false positive: len(args) == 1 is checked above
	} else {
		cfg, err := config.Load(environ)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		host, port, _ := net.SplitHostPort(cfg.API.Addr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/health"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The operator names the URL on the command line: it is not untrusted input.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil) //nolint:gosec // G704: operator-supplied URL
	if err != nil {
		return usageError("healthcheck: %v", err)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: operator-supplied URL
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", target, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
