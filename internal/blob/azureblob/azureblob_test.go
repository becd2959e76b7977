package azureblob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/blob/blobtest"
	"github.com/intake-dev/intake/internal/blob/driver"
	"github.com/intake-dev/intake/internal/testenv"
)

// uniqueContainer returns a container name no other test uses.
func uniqueContainer() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "intake-test-" + hex.EncodeToString(b[:])
}

// open opens a Bucket on a fresh container of the test Azurite (unless cfg
// names a container or credentials), created by Open and deleted at
// cleanup.
func open(tb testing.TB, cfg azureblob.Config) *azureblob.Bucket {
	tb.Helper()
	if cfg.ConnectionString == "" && cfg.ServiceURL == "" {
		cfg.ConnectionString = testenv.Azurite.URL(tb)
	}
	if cfg.Container == "" {
		cfg.Container = uniqueContainer()
		cfg.CreateContainer = true
	}
	b, err := azureblob.Open(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := azureblob.ContainerClient(b).Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted) {
			tb.Errorf("delete container %s: %v", cfg.Container, err)
		}
		if err := b.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	testenv.Azurite.URL(t) // skip once, not in every subtest
	blobtest.Run(t, func(t *testing.T) driver.Bucket { return open(t, azureblob.Config{}) })
}

// TestPutLayout checks how Put stores bodies of each size: whole or in
// blocks of BlockSize, with the content type and SHA-256 as the blob's
// own properties and metadata, where other Azure tools see them.
func TestPutLayout(t *testing.T) {
	t.Parallel()
	const blockSize = 64 << 10
	b := open(t, azureblob.Config{BlockSize: blockSize})
	tests := []struct {
		name       string
		size       int
		wantBlocks []int64 // committed block sizes; nil for a blob put whole
	}{
		{"empty", 0, nil},
		{"small", 1000, nil},
		{"one block less a byte", blockSize - 1, nil},
		{"exactly one block", blockSize, []int64{blockSize}},
		{"two blocks", 2 * blockSize, []int64{blockSize, blockSize}},
		{"partial last block", 300_000, []int64{blockSize, blockSize, blockSize, blockSize, 300_000 - 4*blockSize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			content := make([]byte, tt.size)
			_, _ = rand.Read(content)
			sum := sha256.Sum256(content)
			key := "layout/" + strings.ReplaceAll(tt.name, " ", "-")
			// iotest.OneByteReader-like short reads must not change the layout.
			info, err := b.Put(ctx, key, shortReader{bytes.NewReader(content)}, "application/pdf")
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Size != int64(tt.size) || info.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("Put = %+v, want size %d sha256 %x", info, tt.size, sum)
			}

			client := azureblob.ContainerClient(b).NewBlockBlobClient(key)
			props, err := client.GetProperties(ctx, nil)
			if err != nil {
				t.Fatalf("GetProperties: %v", err)
			}
			if got := deref(props.ContentType); got != "application/pdf" {
				t.Errorf("Content-Type = %q, want application/pdf", got)
			}
			var gotSum string
			for k, v := range props.Metadata {
				if strings.EqualFold(k, "sha256") && v != nil {
					gotSum = *v
				}
			}
			if gotSum != hex.EncodeToString(sum[:]) {
				t.Errorf("metadata = %v, want sha256=%x", props.Metadata, sum)
			}

			list, err := client.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
			if err != nil {
				t.Fatalf("GetBlockList: %v", err)
			}
			var sizes []int64
			for _, blk := range list.CommittedBlocks {
				sizes = append(sizes, deref(blk.Size))
			}
			if tt.wantBlocks != nil && !slices.Equal(sizes, tt.wantBlocks) {
				t.Errorf("committed blocks = %v, want %v", sizes, tt.wantBlocks)
			}
			if tt.wantBlocks == nil && len(sizes) > 1 {
				t.Errorf("committed blocks = %v, want the blob put whole", sizes)
			}
			if n := len(list.UncommittedBlocks); n != 0 {
				t.Errorf("%d uncommitted blocks left after Put", n)
			}
		})
	}
}

// TestFailedPutStagesButNeverCommits stops Puts after they staged blocks,
// by a failing reader and by a cancelled context: the blocks stay
// uncommitted, and the key keeps what it held (nothing, or the old blob).
func TestFailedPutStagesButNeverCommits(t *testing.T) {
	t.Parallel()
	const blockSize = 64 << 10
	b := open(t, azureblob.Config{BlockSize: blockSize})
	errBroken := errors.New("source went away")
	tests := []struct {
		name    string
		reader  func(cancel context.CancelFunc) io.Reader
		wantErr error
	}{
		{"reader fails", func(context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(make([]byte, 2*blockSize+100)), errReader{errBroken})
		}, errBroken},
		{"context cancelled", func(cancel context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(make([]byte, 2*blockSize+100)), cancelReader{cancel}, bytes.NewReader(make([]byte, blockSize)))
		}, context.Canceled},
	}
	for _, tt := range tests {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/existing=%t", tt.name, existing), func(t *testing.T) {
				t.Parallel()
				key := fmt.Sprintf("broken/%s/%t", strings.ReplaceAll(tt.name, " ", "-"), existing)
				if existing {
					if _, err := b.Put(t.Context(), key, strings.NewReader("old"), "text/plain"); err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if _, err := b.Put(ctx, key, tt.reader(cancel), "application/pdf"); !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put error = %v, want %v", err, tt.wantErr)
				}
				rc, info, err := b.Get(t.Context(), key)
				switch {
				case !existing && intake.ErrorCode(err) != intake.ENOTFOUND:
					t.Errorf("Get after a failed Put error = %v, want %s", err, intake.ENOTFOUND)
				case existing && err != nil:
					t.Errorf("Get after a failed overwrite: %v", err)
				case existing:
					body, _ := io.ReadAll(rc)
					if string(body) != "old" || info.ContentType != "text/plain" {
						t.Errorf("after a failed overwrite Get = %q %+v, want the old blob", body, info)
					}
				}
				if rc != nil {
					rc.Close()
				}
				list, err := azureblob.ContainerClient(b).NewBlockBlobClient(key).GetBlockList(t.Context(), blockblob.BlockListTypeAll, nil)
				if err != nil {
					t.Fatalf("GetBlockList: %v", err)
				}
				if len(list.UncommittedBlocks) != 2 {
					t.Errorf("%d uncommitted blocks, want the 2 staged before the failure", len(list.UncommittedBlocks))
				}
			})
		}
	}
}

// TestConcurrentStagedPuts races multi-block Puts on one key. A commit
// discards the other writers' staged blocks, so some writers may fail, but
// only with ECONFLICT, and the blob is always one writer's content with
// that writer's metadata.
func TestConcurrentStagedPuts(t *testing.T) {
	t.Parallel()
	const blockSize, writers, rounds = 16 << 10, 4, 5
	b := open(t, azureblob.Config{BlockSize: blockSize})
	conflicts := 0
	for round := range rounds {
		key := fmt.Sprintf("race/%d", round)
		contents := make([][]byte, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			contents[i] = make([]byte, 3*blockSize+i)
			_, _ = rand.Read(contents[i])
			wg.Go(func() {
				_, errs[i] = b.Put(t.Context(), key, bytes.NewReader(contents[i]), fmt.Sprintf("application/x-writer-%d", i))
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch code := codeOf(err); code {
			case "":
				ok++
			case intake.ECONFLICT:
				conflicts++
			default:
				t.Errorf("round %d writer %d error = %v (code %q), want nil or %s", round, i, err, code, intake.ECONFLICT)
			}
		}
		if ok == 0 {
			t.Errorf("round %d: every writer failed", round)
		}
		body, info := blobtest.Read(t, b, key)
		i := slices.IndexFunc(contents, func(c []byte) bool { return bytes.Equal(c, body) })
		if i < 0 {
			t.Fatalf("round %d: Get = %d bytes matching no writer", round, len(body))
		}
		sum := sha256.Sum256(contents[i])
		if errs[i] != nil || info.ContentType != fmt.Sprintf("application/x-writer-%d", i) || info.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("round %d: blob holds writer %d's content (its Put: %v) with info %+v", round, i, errs[i], info)
		}
	}
	t.Logf("%d of %d racing Puts failed with ECONFLICT", conflicts, writers*rounds)
}

// TestMissingContainer opens a container that does not exist, with and
// without CreateContainer.
func TestMissingContainer(t *testing.T) {
	t.Parallel()
	conn := testenv.Azurite.URL(t)
	ctx := t.Context()
	name := uniqueContainer()

	b, err := azureblob.Open(ctx, azureblob.Config{ConnectionString: conn, Container: name})
	if err != nil {
		t.Fatalf("Open without CreateContainer: %v", err)
	}
	defer b.Close()
	checks := []struct {
		op       string
		err      error
		wantCode string
	}{
		{"Ping", b.Ping(ctx), intake.EUNAVAILABLE},
		{"Put", putErr(b, ctx, "k"), intake.EUNAVAILABLE},
		{"List", b.List(ctx, "", func(*intake.BlobInfo) error { return nil }), intake.EUNAVAILABLE},
		{"Get", getErr(b, ctx, "k"), intake.ENOTFOUND},
		{"Delete", b.Delete(ctx, "k"), ""},
	}
	for _, c := range checks {
		if code := codeOf(c.err); code != c.wantCode {
			t.Errorf("%s on a missing container error = %v (code %q), want %q", c.op, c.err, code, c.wantCode)
		}
		if c.wantCode != "" && !strings.Contains(c.err.Error(), name) {
			t.Errorf("%s error = %q, want it to name the container", c.op, c.err)
		}
	}

	// CreateContainer creates it; opening again finds it.
	for range 2 {
		created := open(t, azureblob.Config{ConnectionString: conn, Container: name, CreateContainer: true})
		if err := created.Ping(ctx); err != nil {
			t.Fatalf("Ping after Open with CreateContainer: %v", err)
		}
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping of the first Bucket once the container exists: %v", err)
	}
}

// TestWrongCredentials uses a key and a SAS that Azurite does not accept:
// a configuration problem, reported as EUNAVAILABLE without the secret.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	conn := testenv.Azurite.URL(t)
	endpoint := blobEndpoint(t, conn)
	tests := []struct {
		name string
		cfg  azureblob.Config
	}{
		{"wrong account key", azureblob.Config{ConnectionString: "AccountName=devstoreaccount1;AccountKey=" + secretKey + ";BlobEndpoint=" + endpoint}},
		{"forged SAS", azureblob.Config{ServiceURL: endpoint + "/?sv=2024-11-04&sr=c&sp=rwdl&se=2099-01-01T00:00:00Z&sig=" + secretSig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The container exists, so that only the credentials are wrong.
			tt.cfg.Container = uniqueContainer()
			open(t, azureblob.Config{Container: tt.cfg.Container, CreateContainer: true})
			tt.cfg.CreateContainer = true
			_, err := azureblob.Open(t.Context(), tt.cfg)
			if code := intake.ErrorCode(err); code != intake.EUNAVAILABLE || !strings.Contains(err.Error(), "refused the credentials (HTTP 403") {
				t.Fatalf("Open error = %v (code %q), want %s: refused the credentials", err, code, intake.EUNAVAILABLE)
			}
			noSecret(t, err.Error())
		})
	}
}

// TestSAS works through a container SAS, given as a service URL and as an
// azblob:// URL, with a SAS that may not create containers.
func TestSAS(t *testing.T) {
	t.Parallel()
	conn := testenv.Azurite.URL(t)
	name := uniqueContainer()
	open(t, azureblob.Config{Container: name, CreateContainer: true})
	admin, err := container.NewClientFromConnectionString(conn, name, nil)
	if err != nil {
		t.Fatal("INTAKE_TEST_AZURITE_CONN is not a connection string the SDK accepts")
	}
	sasURL, err := admin.GetSASURL(sas.ContainerPermissions{Read: true, Write: true, Delete: true, List: true},
		time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatalf("GetSASURL: %v", err)
	}
	u, err := url.Parse(sasURL)
	if err != nil {
		t.Fatal(err)
	}
	token := u.RawQuery
	endpoint := blobEndpoint(t, conn)

	viaURL, err := azureblob.ParseURL("azblob://" + name + "?endpoint=" + url.QueryEscape(endpoint) + "&" + token)
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	for _, cfg := range []azureblob.Config{
		{ServiceURL: endpoint + "/?" + token, Container: name, CreateContainer: true},
		viaURL,
	} {
		b, err := azureblob.Open(t.Context(), cfg)
		if err != nil {
			t.Fatalf("Open with a SAS: %v", err)
		}
		defer b.Close()
		ctx := t.Context()
		if _, err := b.Put(ctx, "sas/doc", strings.NewReader("via SAS"), "text/plain"); err != nil {
			t.Fatalf("Put with a SAS: %v", err)
		}
		if body, info := blobtest.Read(t, b, "sas/doc"); string(body) != "via SAS" || info.ContentType != "text/plain" {
			t.Errorf("Get with a SAS = %q %+v", body, info)
		}
		var keys []string
		if err := b.List(ctx, "sas/", func(i *intake.BlobInfo) error { keys = append(keys, i.Key); return nil }); err != nil || len(keys) != 1 {
			t.Errorf("List with a SAS = %q, %v; want [sas/doc]", keys, err)
		}
		if err := b.Delete(ctx, "sas/doc"); err != nil {
			t.Errorf("Delete with a SAS: %v", err)
		}
		if err := b.Ping(ctx); err != nil {
			t.Errorf("Ping with a SAS: %v", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dev := "UseDevelopmentStorage=true"
	tests := []struct {
		name string
		cfg  azureblob.Config
		want string
	}{
		{"no credentials", azureblob.Config{Container: "docs"}, "no credentials"},
		{"bad container", azureblob.Config{ConnectionString: dev, Container: "UPPER"}, "container name"},
		{"negative block size", azureblob.Config{ConnectionString: dev, BlockSize: -1}, "block size"},
		{"huge block size", azureblob.Config{ConnectionString: dev, BlockSize: 5000 << 20}, "block size"},
		{"service URL without SAS", azureblob.Config{ServiceURL: "https://acct.blob.core.windows.net/"}, "needs a SAS"},
		{"service URL not http", azureblob.Config{ServiceURL: "ftp://acct/?sig=" + secretSig}, "http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := azureblob.Open(t.Context(), tt.cfg)
			if err == nil {
				b.Close()
			}
			if code := intake.ErrorCode(err); code != intake.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %v (code %q), want %s containing %q", err, code, intake.EINVALID, tt.want)
			}
			if err != nil {
				noSecret(t, err.Error())
			}
		})
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := azureblob.Open(ctx, azureblob.Config{ConnectionString: dev}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context error = %v, want context.Canceled", err)
	}
}

// blobEndpoint returns the BlobEndpoint of an Azurite connection string,
// without a trailing slash.
func blobEndpoint(t *testing.T, conn string) string {
	t.Helper()
	for _, field := range strings.Split(conn, ";") {
		if name, value, ok := strings.Cut(field, "="); ok && strings.EqualFold(name, "BlobEndpoint") {
			return strings.TrimSuffix(value, "/")
		}
	}
	if strings.Contains(conn, "UseDevelopmentStorage=true") {
		return "http://127.0.0.1:10000/devstoreaccount1"
	}
	t.Fatal("INTAKE_TEST_AZURITE_CONN has no BlobEndpoint")
	return ""
}

func putErr(b intake.BlobStore, ctx context.Context, key string) error {
	_, err := b.Put(ctx, key, strings.NewReader("x"), "text/plain")
	return err
}

func getErr(b intake.BlobStore, ctx context.Context, key string) error {
	rc, _, err := b.Get(ctx, key)
	if err == nil {
		rc.Close()
	}
	return err
}

// codeOf is intake.ErrorCode, but "" for nil.
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	return intake.ErrorCode(err)
}

func deref[T any](p *T) T {
	var zero T
	if p != nil {
		return *p
	}
	return zero
}

type errReader struct{ err error }

// cancelReader cancels its context when first read, then reads as empty.
type cancelReader struct{ cancel context.CancelFunc }

func (r cancelReader) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// shortReader returns at most 1000 bytes per Read, as network bodies do.
type shortReader struct{ r io.Reader }

func (s shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 1000)]) }
