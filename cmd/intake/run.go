package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/intake-dev/intake/internal/config"
)

// Exit codes.
const (
	exitFailure = 1 // a runtime error
	exitUsage   = 2 // bad arguments, configuration or schema: fix and retry
)

// exitError carries a process exit code with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError wraps err with exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

const usage = `usage: intake <command> [flags]

commands:
  dev          API, web UI, worker pool and maintenance in one process (SQLite + files)
  serve        API, web UI, /metrics and the maintenance loop
  work         worker pool and maintenance loop; --once [JOB_ID] runs one batch (KEDA)
  migrate      create or upgrade the job store schema
  bench        measure the job queue on a scratch store: --database-url URL [-n JOBS] [--workers N] [--duration D]
  healthcheck  exit 0 iff GET /health answers 200 (default the local API)
  version      print the version

Configuration comes from the environment (INTAKE_*); see docs/CONFIG.md.`

// run is the whole program: main only adds signals and the exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-version":
		return runVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "healthcheck":
		return runHealthcheck(ctx, rest, environ, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	}

	fs := flag.NewFlagSet("intake "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	once := false
	if cmd == "work" {
		fs.BoolVar(&once, "once", false, "claim one job (JOB_ID or the argument, else the oldest pending), run one batch and exit")
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError("%s: %v", cmd, err)
	}
	oneJobID := cmd == "work" && once && fs.NArg() == 1
	if fs.NArg() > 0 && !oneJobID {
		return usageError("%s: unexpected arguments: %s", cmd, strings.Join(fs.Args(), " "))
	}

	cfg, err := config.Load(environ)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	switch cmd {
	case "dev":
		return runServer(ctx, cfg, devRole, stdout, stderr)
	case "serve":
		return runServer(ctx, cfg, serveRole, stdout, stderr)
	case "work":
		if once {
			return runWorkOnce(ctx, cfg, fs.Arg(0), stderr)
		}
		return runServer(ctx, cfg, workRole, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, cfg, stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return usageError("unknown command %q", cmd)
	}
}
