package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/intake-dev/intake"
)

// SourceType is the source_type of file jobs.
const SourceType = "file"

// SchemaName is the name of the config's OpenAPI schema component.
const SchemaName = "FileSourceConfig"

// Defaults of Options.
const (
	DefaultMaxFileSize = 1 << 30 // 1 GiB
	DefaultMaxFiles    = 100_000
)

// ReportName is the name of the report document that ends a job whose
// plan skipped entries; its DocumentType is ReportType and its Identity
// ReportIdentity, which no file's identity (a path relative to the root)
// can be, since it starts with a slash.
const (
	ReportName     = "_skipped.json"
	ReportType     = "skipped-report"
	ReportIdentity = "/" + ReportName
)

// maxReported caps the skipped entries listed (and logged one by one) per
// job; the report still counts the rest.
const maxReported = 1000

// sniffLen is how many leading bytes http.DetectContentType looks at.
const sniffLen = 512

// Options configure a Source; they come from the operator, never from a
// job.
type Options struct {
	// Root is the directory every pattern is relative to
	// (INTAKE_SOURCE_FILE_ROOT). Empty disables the source: Validate
	// rejects every config.
	Root string
	// MaxFileSize is the largest file a job may collect and the default and
	// upper bound of a config's max_file_size. Default DefaultMaxFileSize.
	MaxFileSize int64
	// MaxFiles is the most files one job may collect; a pattern matching
	// more fails the job at plan time. Default DefaultMaxFiles.
	MaxFiles int
	// Logger receives a warning for each skipped entry; nil discards.
	Logger *slog.Logger
}

// Source collects regular files under an operator-configured root, one
// document per file. It implements intake.Source and api.ConfigDescriber
// and is safe for concurrent use.
type Source struct {
	root     string
	maxSize  int64
	maxFiles int
	logger   *slog.Logger
	plans    *planCache
}

var (
	_ intake.Source = (*Source)(nil)
)

// New returns a Source for opts. With an empty Root the source is disabled
// (Validate fails); otherwise Root must be a directory that can be opened.
func New(opts Options) (*Source, error) {
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case opts.MaxFileSize < 1:
		return nil, intake.Errorf(intake.EINVALID, "file source: max file size must be positive, got %d", opts.MaxFileSize)
	case opts.MaxFiles < 1:
		return nil, intake.Errorf(intake.EINVALID, "file source: max files must be positive, got %d", opts.MaxFiles)
	}
	if opts.Root != "" {
		r, err := os.OpenRoot(opts.Root)
		if err != nil {
			return nil, intake.WrapError(intake.EINVALID, err, "file source: open root %s", opts.Root)
		}
		_ = r.Close()
	}
	return &Source{
		root:     opts.Root,
		maxSize:  opts.MaxFileSize,
		maxFiles: opts.MaxFiles,
		logger:   opts.Logger.With("source_type", SourceType),
		plans:    newPlanCache(),
	}, nil
}

// Close implements intake.Source; the file source holds nothing between
// calls.
func (s *Source) Close() error { return nil }

// Type returns SourceType.
func (s *Source) Type() string { return SourceType }

// ConfigSchema returns SchemaName and a Config, whose tags describe the
// schema.
func (s *Source) ConfigSchema() (string, any) { return SchemaName, Config{} }

// Example returns an example config.
func (s *Source) Example() json.RawMessage {
	return json.RawMessage(`{"pattern": "reports/2024/**/*.pdf", "max_file_size": 104857600}`)
}

// Validate checks a config: a relative glob without "." or ".." segments
// and an optional max_file_size within the operator's limit. It returns an
// EINVALID *intake.Error with field errors, and always does so when the
// source is disabled.
func (s *Source) Validate(_ context.Context, config json.RawMessage) error {
	_, err := s.parse(config)
	return err
}

func (s *Source) parse(config json.RawMessage) (Config, error) {
	if s.root == "" {
		return Config{}, intake.Invalid("file config", intake.FieldError{
			Message: "the file source is disabled on this server: the operator must set INTAKE_SOURCE_FILE_ROOT",
		})
	}
	return parseConfig(config, s.maxSize)
}

// Plan walks the root for the config's pattern and fixes the sorted list
// of matching regular files in the checkpoint. Entries that cannot be
// collected (symlinks leading outside the root, FIFOs, devices, sockets,
// unreadable or oversized files, unreadable directories) are skipped,
// logged, and listed in a final ReportName document, so the total is the
// number of files plus one when anything was skipped. A pattern matching
// more than MaxFiles files is an EINVALID error.
func (s *Source) Plan(ctx context.Context, config json.RawMessage) (int, []byte, error) {
	cfg, err := s.parse(config)
	if err != nil {
		return 0, nil, err
	}
	root, err := s.openRoot()
	if err != nil {
		return 0, nil, err
	}
	defer root.Close()
	p, err := walk(ctx, root, cfg, s.maxFiles)
	if err != nil {
		return 0, nil, err
	}
	for i, sk := range p.Skipped {
		if i == maxReported {
			break
		}
		s.logger.WarnContext(ctx, "file source: entry skipped", "pattern", cfg.Pattern, "path", sk.Path, "reason", sk.Reason)
	}
	if p.SkippedTotal > 0 {
		s.logger.WarnContext(ctx, "file source: entries skipped", "pattern", cfg.Pattern,
			"skipped", p.SkippedTotal, "files", len(p.Files))
	}
	cp, err := p.encode()
	if err != nil {
		return 0, nil, fmt.Errorf("file source: encode checkpoint: %w", err)
	}
	return p.total(), cp, nil
}

// Next opens file seq of the planned list through the root and streams it:
// the item's Body is the open file, read as the blob store consumes it. The
// file must still be a regular file inside the root and within
// max_file_size; a symlink swapped since the plan to lead outside the root,
// a file replaced by a FIFO or grown too large fails the job (Permanent). A
// file that vanished or became unreadable is a transient error, so the
// worker retries with backoff (a share that blipped) and fails the job when
// its attempts are used up. Seq total+1 of a plan with skipped entries is
// the ReportName document. A file's Identity is its path relative to the
// root, as is its Name.
func (s *Source) Next(ctx context.Context, config json.RawMessage, seq int, checkpoint []byte) (*intake.Item, error) {
	cfg, err := s.parse(config)
	if err != nil {
		return nil, err
	}
	p, err := s.plans.decode(checkpoint)
	if err != nil {
		return nil, intake.Permanent(fmt.Errorf("file source: %w", err))
	}
	if seq < 1 || seq > p.total() {
		return nil, intake.Errorf(intake.EINVALID, "file source: document %d out of range 1..%d", seq, p.total())
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if seq > len(p.Files) {
		return p.reportItem(checkpoint)
	}
	name := p.Files[seq-1]
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close() // the file stays open on its own descriptor
	f, err := openFile(root, name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		_ = f.Close()
		return nil, fmt.Errorf("file source: stat %q: %w", name, err)
	case !fi.Mode().IsRegular():
		_ = f.Close()
		return nil, intake.Permanent(fmt.Errorf("file source: %q is no longer a regular file (%s); refused", name, kind(fi.Mode())))
	case fi.Size() > cfg.MaxFileSize:
		_ = f.Close()
		return nil, intake.Permanent(fmt.Errorf("file source: %q grew to %d bytes since the plan, over max_file_size %d", name, fi.Size(), cfg.MaxFileSize))
	}
	body := &cappedFile{f: f, name: name, left: cfg.MaxFileSize}
	item := &intake.Item{
		Name:         name,
		Identity:     name,
		DocumentType: documentType(name),
		ContentType:  mime.TypeByExtension(path.Ext(name)),
		Body:         body,
		Checkpoint:   checkpoint,
	}
	if item.ContentType == "" {
		head := make([]byte, sniffLen)
		n, err := io.ReadFull(body, head)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			_ = f.Close()
			return nil, fmt.Errorf("file source: read %q: %w", name, err)
		}
		head = head[:n]
		item.ContentType = http.DetectContentType(head)
		item.Body = readCloser{io.MultiReader(bytes.NewReader(head), body), body}
	}
	return item, nil
}

// openRoot opens the operator's root. Failure is transient (EUNAVAILABLE):
// a share that is not mounted yet may be later. The message leaves out the
// root's path, which is the operator's business, not the caller's.
func (s *Source) openRoot() (*os.Root, error) {
	r, err := os.OpenRoot(s.root)
	if err != nil {
		var pe *fs.PathError
		cause := err
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		return nil, &intake.Error{Code: intake.EUNAVAILABLE, Message: "file source: the file root is unavailable: " + cause.Error(), Err: err}
	}
	return r, nil
}

// openFile opens a planned file through root without blocking on a FIFO
// and classifies failures: gone or unreadable is transient; anything else
// that os.Root refuses (a symlink now leading outside the root, a loop) is
// permanent.
func openFile(root *os.Root, name string) (*os.File, error) {
	f, err := root.OpenFile(name, openFlags, 0)
	if err == nil {
		return f, nil
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("file source: %q vanished since the job was planned: %w", name, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("file source: %q is no longer readable: %w", name, err)
	}
	if fi, lerr := root.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, intake.Permanent(fmt.Errorf("file source: %q is a symlink that now leads outside the root; refused: %w", name, err))
	}
	return nil, intake.Permanent(fmt.Errorf("file source: open %q refused: %w", name, err))
}

// documentType is a file's extension, lower case and without the dot, or
// "file" when it has none.
func documentType(name string) string {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	if ext == "" {
		return "file"
	}
	return ext
}

// cappedFile reads a file and fails once more than left bytes were read,
// so that a file growing during the copy cannot exceed max_file_size.
type cappedFile struct {
	f    *os.File
	name string
	left int64
}

func (c *cappedFile) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, c.tooLarge()
	}
	// Read one byte past the limit, to tell "exactly at it" from "over".
	if limit := c.left + 1; limit > 0 && int64(len(p)) > limit {
		p = p[:limit]
	}
	n, err := c.f.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, c.tooLarge()
	}
	return n, err
}

func (c *cappedFile) tooLarge() error {
	return intake.Permanent(fmt.Errorf("file source: %q grew past max_file_size while being read", c.name))
}

func (c *cappedFile) Close() error { return c.f.Close() }

// readCloser joins a reader with the closer of what it reads.
type readCloser struct {
	io.Reader
	io.Closer
}

// kind names a non-regular file mode for reports.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	}
	return "irregular file (mode " + strconv.FormatUint(uint64(m.Type()), 8) + ")"
}
