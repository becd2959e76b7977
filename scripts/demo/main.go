// Command demo records docs/demo.mp4, the demo video of intake.
//
// It runs intake live on loopback — `intake dev` (API, web UI and a worker
// pool on SQLite and file blobs), two `intake work` processes on the same
// store, and Debian's Prometheus scraping them with the rules in
// deploy/prometheus — drives the web UI, the API docs and Prometheus's
// graph pages in headless Chromium, takes a screenshot every second or
// two, and composes the screenshots with ffmpeg into a captioned H.264
// video of three to five minutes.
//
// `make demo` (scripts/demo.sh) checks the prerequisites, builds intake and
// runs this program. It is not run in CI: it takes minutes and its output
// is a committed file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	intake     string // the intake binary
	prometheus string // Debian's prometheus
	chromium   string
	ffmpeg     string
	ffprobe    string
	font       string // DejaVu Sans, regular and bold, for the captions
	fontBold   string
	repo       string // the repository root: deploy/ and docs/ are read from it
	work       string // scratch directory: data, logs, frames
	out        string // the video
	target     time.Duration
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.intake, "intake", "", "the intake binary (required)")
	fs.StringVar(&o.prometheus, "prometheus", "prometheus", "Prometheus binary")
	fs.StringVar(&o.chromium, "chromium", "/usr/bin/chromium", "Chromium binary")
	fs.StringVar(&o.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	fs.StringVar(&o.ffprobe, "ffprobe", "ffprobe", "ffprobe binary")
	fs.StringVar(&o.font, "font", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "caption font")
	fs.StringVar(&o.fontBold, "font-bold", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "caption title font")
	fs.StringVar(&o.repo, "repo", ".", "repository root")
	fs.StringVar(&o.work, "work", "", "scratch directory (required; data, logs and frames are kept there)")
	fs.StringVar(&o.out, "out", "docs/demo.mp4", "the video to write")
	fs.DurationVar(&o.target, "length", 270*time.Second, "aimed-for length of the video (3–5 minutes are accepted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.intake == "" || o.work == "" {
		fs.Usage()
		return errors.New("-intake and -work are required")
	}
	var err error
	for _, p := range []*string{&o.intake, &o.repo, &o.work, &o.out} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	start := time.Now()

	// The live stack: intake dev, two workers, Prometheus.
	st, err := startStack(ctx, o, logger)
	if err != nil {
		st.stop()
		return err
	}

	// The browser run: frames and their captions.
	frames, err := record(ctx, st, o, logger)
	st.stop() // frees the machine for ffmpeg
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, filepath.Join(o.work, "logs"))
	}

	// The video.
	if err := compose(ctx, frames, o, logger); err != nil {
		return err
	}
	logger.Info("demo recorded", "out", o.out, "took", time.Since(start).Round(time.Second))
	return nil
}
