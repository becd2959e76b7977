package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chromedp/chromedp"
)

// The frame geometry: the page above, a caption bar below.
const (
	videoW   = 1280
	videoH   = 720
	pageH    = 616
	captionH = videoH - pageH
)

// caption is what the bar under a frame says: a short title and one or
// two lines of text.
type caption struct {
	title, text string
}

// frame is one screenshot and how long the video shows it.
type frame struct {
	file    string
	caption caption
	at      time.Time     // when it was taken
	hold    time.Duration // a still: how long to show it (scaled to the target length)
	live    bool          // a live frame: shown until the next frame's time
	segment int           // live frames of one watch share a segment
	speedup float64       // set by compose when a live segment is played faster
}

// recorder takes screenshots of a tab.
type recorder struct {
	dir     string
	frames  []frame
	segment int
}

// shot takes a still: a screenshot shown for hold (before scaling).
func (r *recorder) shot(ctx context.Context, c caption, hold time.Duration) error {
	f, err := r.capture(ctx, c)
	if err != nil {
		return err
	}
	f.hold = hold
	r.frames = append(r.frames, f)
	return nil
}

// newSegment starts a segment of live frames.
func (r *recorder) newSegment() int {
	r.segment++
	return r.segment
}

// liveShot takes a live frame of segment seg.
func (r *recorder) liveShot(ctx context.Context, c caption, seg int) error {
	f, err := r.capture(ctx, c)
	if err != nil {
		return err
	}
	f.live, f.segment = true, seg
	r.frames = append(r.frames, f)
	return nil
}

// watch takes a live frame every interval until done reports true (one more
// frame is then taken) or max has passed, which is an error: every watch
// waits for a condition that the run must reach.
func (r *recorder) watch(ctx context.Context, c caption, every, max time.Duration, done func(context.Context) (bool, error)) error {
	seg := r.newSegment()
	start := time.Now()
	for {
		t := time.Now()
		if err := r.liveShot(ctx, c, seg); err != nil {
			return err
		}
		ok, err := done(ctx)
		if err != nil {
			return err
		}
		if ok {
			return r.liveShot(ctx, c, seg)
		}
		if time.Since(start) > max {
			return fmt.Errorf("%q: the condition was not reached within %s", c.title, max)
		}
		if err := sleep(ctx, every-time.Since(t)); err != nil {
			return err
		}
	}
}

// live takes live frames of one segment for d.
func (r *recorder) live(ctx context.Context, c caption, every, d time.Duration) error {
	end := time.Now().Add(d)
	return r.watch(ctx, c, every, d+every, func(context.Context) (bool, error) {
		return !time.Now().Before(end), nil
	})
}

func (r *recorder) capture(ctx context.Context, c caption) (frame, error) {
	if err := checkCaption(c); err != nil {
		return frame{}, err
	}
	at := time.Now()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return frame{}, fmt.Errorf("screenshot: %w", err)
	}
	name := filepath.Join(r.dir, fmt.Sprintf("f%04d.png", len(r.frames)+1))
	if err := os.WriteFile(name, png, 0o600); err != nil {
		return frame{}, err
	}
	return frame{file: name, caption: c, at: at}, nil
}

// Caption limits: the bar holds a title line and two text lines of
// DejaVu Sans at 19 px.
const (
	titleMax = 100
	lineMax  = 112
)

// checkCaption refuses a caption that would not fit the bar.
func checkCaption(c caption) error {
	if utf8.RuneCountInString(c.title) > titleMax {
		return fmt.Errorf("caption title longer than %d: %q", titleMax, c.title)
	}
	if n := len(wrap(c.text, lineMax)); n > 2 {
		return fmt.Errorf("caption text needs %d lines, the bar has 2: %q", n, c.text)
	}
	return nil
}

// wrap breaks s into lines of at most n characters at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= n:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
