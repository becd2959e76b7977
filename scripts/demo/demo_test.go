package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKEDATimelines reads the timelines the video shows from
// docs/KUBERNETES.md, as make demo does, so that a change of their format
// fails here rather than at the end of a recording.
func TestKEDATimelines(t *testing.T) {
	t.Parallel()
	tls, err := kedaTimelines("../../docs/KUBERNETES.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tls {
		if !strings.Contains(tl.Counts, "jobs") || !strings.HasPrefix(tl.Recorded, "recorded ") {
			t.Errorf("%s: summary %q / %q", tl.Trigger, tl.Counts, tl.Recorded)
		}
		if _, err := os.Stat(filepath.Join("../../docs", tl.Image)); err != nil {
			t.Errorf("%s: %v", tl.Trigger, err)
		}
		for _, r := range tl.Rows {
			if len(r) != len(tl.Header) {
				t.Errorf("%s: row %v has %d cells, the header %d", tl.Trigger, r, len(r), len(tl.Header))
			}
		}
	}
}

// TestShownPanelsExist checks that every dashboard panel the video shows is
// in the generated dashboard, with the query it shows.
func TestShownPanelsExist(t *testing.T) {
	t.Parallel()
	queries, err := dashboardQueries("../../deploy/grafana/dashboards/intake.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range shownPanels {
		if p.target >= len(queries[p.title]) {
			t.Errorf("panel %q: no query #%d (has %d)", p.title, p.target+1, len(queries[p.title]))
		}
	}
	for _, title := range shownStats {
		if len(queries[title]) == 0 {
			t.Errorf("stat panel %q is not in the dashboard", title)
		}
	}
	if got := expandGrafana(`rate(x[$__rate_interval])`); got != "rate(x["+rateInterval+"])" {
		t.Errorf("expandGrafana: %s", got)
	}
}

func TestTiming(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	still := func(title string, hold time.Duration) frame {
		return frame{caption: caption{title: title}, hold: hold}
	}
	live := func(title string, seg int, at time.Duration) frame {
		return frame{caption: caption{title: title}, live: true, segment: seg, at: t0.Add(at)}
	}
	var frames []frame
	for range 20 {
		frames = append(frames, still("still", 10*time.Second))
	}
	// A quick step (two frames, 0.4 s) and a long live segment (100 s).
	frames = append(frames, live("quick", 1, 0), live("quick", 1, 400*time.Millisecond))
	for i := range 67 {
		frames = append(frames, live("long", 2, time.Second+time.Duration(i)*1500*time.Millisecond))
	}
	frames = append(frames, still("end", 5*time.Second))

	for _, target := range []time.Duration{230 * time.Second, 270 * time.Second} {
		fs := append([]frame(nil), frames...)
		durs, err := timing(fs, target)
		if err != nil {
			t.Fatalf("target %s: %v", target, err)
		}
		var total, quick time.Duration
		for i, d := range durs {
			total += d
			if fs[i].caption.title == "quick" {
				quick += d
			}
		}
		if diff := total - target; diff < -time.Second || diff > time.Second {
			t.Errorf("target %s: total %s", target, total)
		}
		if quick < minCaption {
			t.Errorf("target %s: the quick caption shows for %s, want at least %s", target, quick, minCaption)
		}
		if sp := fs[len(fs)-2].speedup; sp <= 1 {
			t.Errorf("target %s: the 100 s segment is not played faster (speedup %v)", target, sp)
		}
	}

	// Stills cannot be squeezed below 60 %: far too much live footage fails.
	long := []frame{still("a", 10*time.Second)}
	for s := range 4 {
		for i := range 60 {
			long = append(long, live("x", s+1, time.Duration(s*1000+i)*1500*time.Millisecond))
		}
	}
	if _, err := timing(long, 200*time.Second); err != nil {
		t.Logf("as expected: %v", err)
	} else {
		t.Error("timing accepted 300 s of live footage for a 200 s video")
	}
}

func TestCheckCaption(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c  caption
		ok bool
	}{
		{caption{"Title", "One short line."}, true},
		{caption{"Title", strings.Repeat("word ", 44)}, true},
		{caption{"Title", strings.Repeat("word ", 50)}, false},
		{caption{strings.Repeat("t", titleMax+1), "x"}, false},
	}
	for _, tt := range tests {
		if err := checkCaption(tt.c); (err == nil) != tt.ok {
			t.Errorf("checkCaption(%q…): %v, want ok=%v", tt.c.text[:min(20, len(tt.c.text))], err, tt.ok)
		}
	}
}
