package docs

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/webhook"
)

// TestWebhookSnippet compiles the verification function of
// docs/SCHEDULES.md with a small main and runs it on a delivery that
// intake's webhook package signed, untouched and tampered with: the
// receiver code the docs give must accept the one and refuse the others.
func TestWebhookSnippet(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "SCHEDULES.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- verify-snippet -->\n```go\n")
	if !ok {
		t.Fatal("docs/SCHEDULES.md has no go block after <!-- verify-snippet -->")
	}
	snippet, _, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("the verify snippet's go block is not closed")
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := webhook.Key(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"job.completed","data":{"job_id":"x"}}`)
	h := http.Header{}
	webhook.SetHeaders(h, key, "msg_test", time.Now(), body)

	// main reads the headers from its arguments and the body from stdin.
	mainFn := `
func main() {
	h := http.Header{}
	h.Set("webhook-id", os.Args[1])
	h.Set("webhook-timestamp", os.Args[2])
	h.Set("webhook-signature", os.Args[3])
	body, _ := io.ReadAll(os.Stdin)
	if err := verifyWebhook(os.Args[4], h, body, time.Now()); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}
`
	src := strings.Replace(snippet, "import (", "import (\n\t\"fmt\"\n\t\"io\"\n\t\"os\"", 1) + mainFn
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "verify")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the snippet does not compile: %v\n%s", err, out)
	}
	tests := []struct {
		name   string
		id, ts string
		sig    string
		body   []byte
		secret string
		ok     bool
	}{
		{"as signed", h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, secret, true},
		{"among other signatures", h.Get("webhook-id"), h.Get("webhook-timestamp"), "v1,bm9wZQ== " + h.Get("webhook-signature"), body, secret, true},
		{"tampered body", h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), append(bytes.Clone(body), ' '), secret, false},
		{"other id", "msg_other", h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, secret, false},
		{"other secret", h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, "whsec_b3RoZXI=", false},
		{"stale", h.Get("webhook-id"), "1614265330", webhook.Sign(key, "msg_test", time.Unix(1614265330, 0), body), body, secret, false},
	}
	for _, tt := range tests {
		cmd := exec.CommandContext(ctx, bin, tt.id, tt.ts, tt.sig, tt.secret)
		cmd.Stdin = bytes.NewReader(tt.body)
		out, err := cmd.CombinedOutput()
		if got := err == nil; got != tt.ok {
			t.Errorf("%s: the snippet accepted = %v, want %v (%s)", tt.name, got, tt.ok, out)
		}
	}
}
