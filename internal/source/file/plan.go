package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/intake-dev/intake"
)

// checkpointVersion is the version of the checkpoint's format.
const checkpointVersion = 1

// plan is a job's fixed file list, the content of its checkpoint. The
// checkpoint is gzip-compressed JSON: sorted paths share long prefixes, so
// it stays near 10 bytes a file. It is passed on unchanged with every
// document.
type plan struct {
	V     int      `json:"v"`
	Files []string `json:"files"`
	// Skipped lists the first maxReported skipped entries; SkippedTotal
	// counts them all.
	Skipped      []skipped `json:"skipped,omitempty"`
	SkippedTotal int       `json:"skipped_total,omitempty"`
}

// skipped is one entry the plan could not collect, with why.
type skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// total is the number of documents: the files, and the report when
// anything was skipped.
func (p *plan) total() int {
	if p.SkippedTotal > 0 {
		return len(p.Files) + 1
	}
	return len(p.Files)
}

func (p *plan) skip(name, reason string) {
	p.SkippedTotal++
	if len(p.Skipped) < maxReported {
		p.Skipped = append(p.Skipped, skipped{Path: name, Reason: reason})
	}
}

func (p *plan) encode() ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(p); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxCheckpointJSON bounds the decompressed checkpoint, against a forged
// or corrupted one: 100,000 paths of 4 KiB each would be 400 MiB, and the
// paths of a real share are far shorter.
const maxCheckpointJSON = 256 << 20

func decodePlan(cp []byte) (*plan, error) {
	zr, err := gzip.NewReader(bytes.NewReader(cp))
	if err != nil {
		return nil, fmt.Errorf("checkpoint is not a file list: %w", err)
	}
	var p plan
	if err := json.NewDecoder(io.LimitReader(zr, maxCheckpointJSON)).Decode(&p); err != nil {
		return nil, fmt.Errorf("checkpoint is not a file list: %w", err)
	}
	if p.V != checkpointVersion {
		return nil, fmt.Errorf("checkpoint version %d is not %d", p.V, checkpointVersion)
	}
	return &p, nil
}

// planCache keeps recently decoded checkpoints by their SHA-256, so that a
// run does not decompress and parse the whole list for every document.
type planCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*plan
}

// planCacheSize bounds the cache: about one entry per concurrent job.
const planCacheSize = 16

func newPlanCache() *planCache { return &planCache{m: make(map[[sha256.Size]byte]*plan)} }

func (c *planCache) decode(cp []byte) (*plan, error) {
	key := sha256.Sum256(cp)
	c.mu.Lock()
	p, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := decodePlan(cp)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= planCacheSize {
		clear(c.m)
	}
	c.m[key] = p
	c.mu.Unlock()
	return p, nil
}

// reportItem returns the ReportName document: the skipped entries as JSON.
func (p *plan) reportItem(checkpoint []byte) (*intake.Item, error) {
	body, err := json.MarshalIndent(struct {
		Collected    int       `json:"collected"`
		SkippedTotal int       `json:"skipped_total"`
		Listed       int       `json:"listed"`
		Skipped      []skipped `json:"skipped"`
	}{len(p.Files), p.SkippedTotal, len(p.Skipped), p.Skipped}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("file source: encode report: %w", err)
	}
	return &intake.Item{
		Name:         ReportName,
		Identity:     ReportIdentity,
		DocumentType: ReportType,
		ContentType:  "application/json",
		Body:         io.NopCloser(bytes.NewReader(append(body, '\n'))),
		Checkpoint:   checkpoint,
	}, nil
}

// errTooMany ends a walk that found more than MaxFiles files.
var errTooMany = errors.New("too many files")

// walk lists the files under root that match cfg.Pattern, sorted and
// without duplicates (alternatives may match a file twice), and the entries
// it skipped. Symlinks are not followed while walking (no loops, no
// directories outside the root); a matched symlink is resolved through the
// root, which refuses targets outside it.
func walk(ctx context.Context, root *os.Root, cfg Config, maxFiles int) (*plan, error) {
	p := &plan{V: checkpointVersion, Files: []string{}}
	seenSkip := make(map[string]bool)
	skip := func(name, reason string) {
		if !seenSkip[name] {
			seenSkip[name] = true
			p.skip(name, reason)
		}
	}
	fsys := walkFS{fsys: root.FS(), onErr: func(dir string, err error) {
		if !utf8.ValidString(dir) {
			skip(escapeName(dir)+"/", "directory name is not valid UTF-8")
			return
		}
		skip(dir+"/", "directory not listed: "+reasonOf(err))
	}}
	err := doublestar.GlobWalk(fsys, cfg.Pattern, func(name string, d fs.DirEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil // directories are walked, not collected
		}
		if !utf8.ValidString(name) {
			// A document's name, like every stored string, is UTF-8, and
			// the JSON checkpoint could not carry these bytes back.
			skip(escapeName(name), "name is not valid UTF-8")
			return nil
		}
		if reason := check(root, name, d, cfg.MaxFileSize); reason != "" {
			skip(name, reason)
			return nil
		}
		p.Files = append(p.Files, name)
		if len(p.Files) > maxFiles {
			slices.Sort(p.Files)
			p.Files = slices.Compact(p.Files)
			if len(p.Files) > maxFiles {
				return errTooMany
			}
		}
		return nil
	}, doublestar.WithNoFollow())
	switch {
	case errors.Is(err, errTooMany):
		return nil, intake.Invalid("file config", intake.FieldError{Location: "pattern", Value: cfg.Pattern,
			Message: "matches more than " + strconv.Itoa(maxFiles) + " files, the most one job may collect; narrow it"})
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("file source: walk %q: %w", cfg.Pattern, err)
	}
	slices.Sort(p.Files)
	p.Files = slices.Compact(p.Files)
	slices.SortFunc(p.Skipped, func(a, b skipped) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return p, nil
}

// escapeName returns name with each byte that is not part of valid UTF-8
// written as \xNN, so that a report and a log can name it.
func escapeName(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, name[i])
		} else {
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	return b.String()
}

// check returns why the matched entry name cannot be collected, or "" when
// it is a readable regular file inside the root within maxSize.
func check(root *os.Root, name string, d fs.DirEntry, maxSize int64) string {
	isLink := d.Type()&fs.ModeSymlink != 0
	fi, err := root.Stat(name) // follows symlinks, never out of the root
	switch {
	case err == nil:
	case isLink && errors.Is(err, fs.ErrNotExist):
		return "dangling symlink"
	case isLink && !errors.Is(err, fs.ErrPermission):
		return "symlink leads outside the root (or loops): " + reasonOf(err)
	default:
		return "cannot stat: " + reasonOf(err)
	}
	switch {
	case fi.IsDir():
		return "symlink to a directory (not followed)"
	case !fi.Mode().IsRegular():
		return "not a regular file: " + kind(fi.Mode())
	case fi.Size() > maxSize:
		return "larger than max_file_size (" + strconv.FormatInt(fi.Size(), 10) + " > " + strconv.FormatInt(maxSize, 10) + " bytes)"
	}
	f, err := root.OpenFile(name, openFlags, 0)
	if err != nil {
		return "unreadable: " + reasonOf(err)
	}
	_ = f.Close()
	return ""
}

// reasonOf is the cause of a path error without the path, which the report
// already names.
func reasonOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// walkFS passes an os.Root's FS through, reporting directories that could
// not be listed instead of letting the walk ignore them silently. It
// implements fs.StatFS so that doublestar never opens an entry (opening a
// FIFO would block) just to stat it.
type walkFS struct {
	fsys  fs.FS
	onErr func(dir string, err error)
}

func (w walkFS) Open(name string) (fs.File, error) { return w.fsys.Open(name) }

func (w walkFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(w.fsys, name) }

func (w walkFS) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := fs.ReadDir(w.fsys, name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		w.onErr(name, err)
	}
	return es, err
}
