package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits of the video.
const (
	minLength = 180 * time.Second
	maxLength = 300 * time.Second
	maxBytes  = 8 << 20
	outFPS    = 4
	// maxLiveSegment is the longest a live segment is shown in real time;
	// a longer one is played faster, and its caption says so.
	maxLiveSegment = 75 * time.Second
	// Shortest and longest time a live frame is shown.
	minLiveFrame = 250 * time.Millisecond
	maxLiveFrame = 3 * time.Second
	// minCaption is the shortest time a caption is shown.
	minCaption = 5 * time.Second
)

// compose turns the frames into the captioned video at o.out.
func compose(ctx context.Context, frames []frame, o options, logger *slog.Logger) error {
	if len(frames) == 0 {
		return fmt.Errorf("no frames")
	}
	durs, err := timing(frames, o.target)
	if err != nil {
		return err
	}
	dir := filepath.Dir(frames[0].file)
	for _, p := range []string{dir, o.font, o.fontBold} {
		if err := plainPath(p); err != nil {
			return err
		}
	}

	// The frames and how long each is shown (the concat demuxer ignores
	// the last duration, hence the last file twice).
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	for i, f := range frames {
		fmt.Fprintf(&list, "file '%s'\nduration %.3f\n", filepath.Base(f.file), durs[i].Seconds())
	}
	fmt.Fprintf(&list, "file '%s'\n", filepath.Base(frames[len(frames)-1].file))
	listPath := filepath.Join(dir, "frames.ffconcat")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o600); err != nil {
		return err
	}

	// One caption per run of frames with the same caption, drawn while
	// the video is in that run.
	filter := []string{
		fmt.Sprintf("[0:v]scale=%d:%d,fps=%d,pad=%d:%d:0:0:color=0x0f172a,drawbox=x=0:y=%d:w=%d:h=3:color=0x38bdf8:t=fill",
			videoW, pageH, outFPS, videoW, videoH, pageH, videoW),
	}
	var t time.Duration
	scene := 0
	for i := 0; i < len(frames); {
		j := i
		var d time.Duration
		for ; j < len(frames) && frames[j].caption == frames[i].caption && frames[j].speedup == frames[i].speedup; j++ {
			d += durs[j]
		}
		c := frames[i].caption
		if frames[i].speedup > 1 {
			c.title += fmt.Sprintf(" · played %.1f× faster", frames[i].speedup)
		}
		scene++
		titleFile := filepath.Join(dir, fmt.Sprintf("caption%03d-title.txt", scene))
		textFile := filepath.Join(dir, fmt.Sprintf("caption%03d-text.txt", scene))
		if err := os.WriteFile(titleFile, []byte(c.title), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(textFile, []byte(strings.Join(wrap(c.text, lineMax), "\n")), 0o600); err != nil {
			return err
		}
		enable := fmt.Sprintf("enable='gte(t,%.3f)*lt(t,%.3f)'", t.Seconds(), (t + d).Seconds())
		filter = append(filter,
			fmt.Sprintf("drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=21:fontcolor=0x7dd3fc:x=26:y=%d:%s",
				o.fontBold, titleFile, pageH+14, enable),
			fmt.Sprintf("drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=19:line_spacing=7:fontcolor=0xf1f5f9:x=26:y=%d:%s",
				o.font, textFile, pageH+46, enable))
		t += d
		i = j
	}
	scriptPath := filepath.Join(dir, "captions.filter")
	if err := os.WriteFile(scriptPath, []byte(strings.Join(filter, ",\n")+",format=yuv420p[v]\n"), 0o600); err != nil {
		return err
	}
	logger.Info("composing", "frames", len(frames), "scenes", scene, "length", t.Round(time.Second))

	// The smallest quality that fits: most frames are stills, which H.264
	// encodes as skipped blocks.
	tmp := o.out + ".tmp.mp4"
	defer os.Remove(tmp)
	for _, crf := range []int{30, 34, 38} {
		cmd := exec.CommandContext(ctx, o.ffmpeg, //nolint:gosec // the operator's ffmpeg
			"-hide_banner", "-loglevel", "error", "-y",
			"-f", "concat", "-safe", "0", "-i", listPath,
			"-filter_complex_script", scriptPath, "-map", "[v]",
			"-r", strconv.Itoa(outFPS), "-c:v", "libx264", "-preset", "slow", "-tune", "stillimage",
			"-crf", strconv.Itoa(crf), "-g", strconv.Itoa(outFPS*20), "-pix_fmt", "yuv420p",
			"-movflags", "+faststart", "-an", tmp)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ffmpeg: %w\n%s", err, out)
		}
		fi, err := os.Stat(tmp)
		if err != nil {
			return err
		}
		logger.Info("encoded", "crf", crf, "bytes", fi.Size())
		if fi.Size() <= maxBytes {
			break
		}
	}
	length, size, err := probe(ctx, o.ffprobe, tmp)
	if err != nil {
		return err
	}
	if size > maxBytes || length < minLength || length > maxLength {
		return fmt.Errorf("%s: %s, %d bytes: want %s–%s and at most %d bytes", tmp, length, size, minLength, maxLength, maxBytes)
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return err
	}
	logger.Info("video written", "out", o.out, "length", length.Round(100*time.Millisecond), "bytes", size)
	return nil
}

// timing returns how long each frame is shown. Live frames are shown for
// the time that passed until the next frame (bounded), and a live segment
// longer than maxLiveSegment is played faster (and marked so); the stills
// are scaled together so that the video lasts about target.
func timing(frames []frame, target time.Duration) ([]time.Duration, error) {
	durs := make([]time.Duration, len(frames))
	segLen := map[int]time.Duration{}
	var live, stills time.Duration
	for i, f := range frames {
		if !f.live {
			durs[i] = f.hold
			stills += f.hold
			continue
		}
		d := every
		if i+1 < len(frames) {
			d = frames[i+1].at.Sub(f.at)
		}
		d = min(max(d, minLiveFrame), maxLiveFrame)
		durs[i] = d
		segLen[f.segment] += d
	}
	for i := range frames {
		if f := &frames[i]; f.live {
			if l := segLen[f.segment]; l > maxLiveSegment {
				f.speedup = float64(l) / float64(maxLiveSegment)
				durs[i] = max(time.Duration(float64(durs[i])/f.speedup), minLiveFrame)
			}
			live += durs[i]
		}
	}
	// Scale the stills, within reason, so that the video lasts about
	// target once every caption is long enough to be read: a short run of
	// frames with one caption (a quick live step) shows its last frame
	// longer. The extensions depend on the scale, hence a few rounds.
	holds := make([]time.Duration, len(frames))
	copy(holds, durs)
	scale, used := 1.0, 1.0
	var total time.Duration
	for range 5 {
		used = scale
		copy(durs, holds)
		for i, f := range frames {
			if !f.live {
				durs[i] = time.Duration(float64(holds[i]) * scale).Round(10 * time.Millisecond)
			}
		}
		for i := 0; i < len(frames); {
			j, d := i, time.Duration(0)
			for ; j < len(frames) && frames[j].caption == frames[i].caption && frames[j].speedup == frames[i].speedup; j++ {
				d += durs[j]
			}
			if d < minCaption {
				durs[j-1] += minCaption - d
			}
			i = j
		}
		total = 0
		for _, d := range durs {
			total += d
		}
		if stills == 0 {
			break
		}
		scaled := time.Duration(float64(stills) * scale)
		scale = min(max(scale*float64(scaled-(total-target))/float64(scaled), 0.6), 1.8)
	}
	if total < minLength || total > maxLength {
		return nil, fmt.Errorf("the frames make a video of %s (live %s, stills %s scaled ×%.2f), outside %s–%s; try -length",
			total.Round(time.Second), live.Round(time.Second), stills, used, minLength, maxLength)
	}
	return durs, nil
}

// plainPath refuses a path that would need escaping in an ffmpeg filter
// graph (the scratch directory and the fonts are plain on Debian).
func plainPath(p string) error {
	if strings.ContainsAny(p, "\\':,;[]=% \t\n") {
		return fmt.Errorf("path %q has a character ffmpeg's filter syntax would need escaped; use a plainer -work or font path", p)
	}
	return nil
}

// probe returns a video's length and size.
func probe(ctx context.Context, ffprobe, path string) (time.Duration, int64, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "format=duration,size", //nolint:gosec // the operator's ffprobe
		"-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	var secs float64
	var size int64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "duration":
			secs, err = strconv.ParseFloat(v, 64)
		case "size":
			size, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("ffprobe %s: %q: %w", path, line, err)
		}
	}
	return time.Duration(secs * float64(time.Second)), size, nil
}
