package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/testenv"
)

func itoa(i int) string { return strconv.Itoa(i) }

const testSecret = "s3cr3t-T0KEN-value"

// bundle is a Source allowed to reach loopback, whose resolver maps the
// names a.test and b.test to 127.0.0.1, with a log buffer.
type bundle struct {
	src  *Source
	logs *testenv.Buffer
}

func newBundle(t *testing.T, mod func(*Options)) *bundle {
	t.Helper()
	logs := &testenv.Buffer{}
	opts := Options{
		Allow:          []string{"127.0.0.1/32"},
		Secrets:        map[string]Secret{"ACME_TOKEN": {Value: testSecret, Hosts: []string{"a.test", "127.0.0.1"}}},
		Resolver:       &fakeResolver{then: map[string][]string{"a.test": {"127.0.0.1"}, "b.test": {"127.0.0.1"}}},
		RetryBaseDelay: time.Millisecond,
		Logger:         logs.Logger(),
	}
	if mod != nil {
		mod(&opts)
	}
	src, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return &bundle{src: src, logs: logs}
}

// page is one collected document.
type page struct {
	name, contentType, body, identity string
	checkpoint                        []byte
}

// collect drives the source like the worker: Plan, then Next until
// ErrExhausted, reading every body. It returns the pages and the error that
// ended collection (nil when exhausted).
func collect(t *testing.T, src *Source, cfg string) ([]page, error) {
	t.Helper()
	ctx := t.Context()
	raw := json.RawMessage(cfg)
	if err := src.Validate(ctx, raw); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	total, cp, err := src.Plan(ctx, raw)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if total != intake.TotalUnknown {
		t.Fatalf("Plan total = %d, want TotalUnknown", total)
	}
	var pages []page
	for seq := 1; seq < 1000; seq++ {
		item, err := src.Next(ctx, raw, seq, cp)
		if errors.Is(err, intake.ErrExhausted) {
			return pages, nil
		}
		if err != nil {
			return pages, err
		}
		b, err := io.ReadAll(item.Body)
		_ = item.Body.Close()
		if err != nil {
			return pages, err
		}
		pages = append(pages, page{item.Name, item.ContentType, string(b), item.Identity, item.Checkpoint})
		cp = item.Checkpoint
	}
	t.Fatal("no end")
	return nil, nil
}

func bodies(pages []page) []string {
	out := make([]string, len(pages))
	for i, p := range pages {
		out[i] = p.body
	}
	return out
}

func TestPagination(t *testing.T) {
	t.Parallel()
	items := []string{"a", "b", "c", "d", "e", "f", "g"}
	mux := http.NewServeMux()
	// Link: three pages linked by relative and absolute Link headers.
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		if p < 2 {
			w.Header().Add("Link", fmt.Sprintf(`<http://%s/link?p=%d>; rel="prev", <?p=%d>; rel="next last"`, r.Host, p, p+1))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"page":%d}`, p)
	})
	// Page and offset over items; the page size comes from the query.
	slice := func(w http.ResponseWriter, from, size int) {
		from = min(from, len(items))
		to := min(from+size, len(items))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		b, _ := json.Marshal(map[string]any{"data": map[string]any{"items": items[from:to]}})
		_, _ = w.Write(b)
	}
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("pg"))
		slice(w, (p-1)*3, 3)
	})
	mux.HandleFunc("/offset", func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		slice(w, off, n)
	})
	mux.HandleFunc("/cursor", func(w http.ResponseWriter, r *http.Request) {
		c, _ := strconv.Atoi(r.URL.Query().Get("after"))
		next := any(strconv.Itoa(c + 1))
		if c >= 2 {
			next = nil
		}
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(map[string]any{"n": c, "meta": map[string]any{"next": next}})
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/csv", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Link", `</csv?again>; rel="next"`)
		_, _ = w.Write([]byte("a,b\n1,2\n"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name   string
		cfg    string
		bodies []string
		names  []string
	}{
		{"auto follows Link", `{"url":"URL/link?p=0"}`, []string{`{"page":0}`, `{"page":1}`, `{"page":2}`},
			[]string{"page-000001.json", "page-000002.json", "page-000003.json"}},
		{"link with max_pages", `{"url":"URL/link?p=0","pagination":{"mode":"link"},"max_pages":2}`,
			[]string{`{"page":0}`, `{"page":1}`}, nil},
		{"none stops after one", `{"url":"URL/link?p=0","pagination":{"mode":"none"}}`, []string{`{"page":0}`}, nil},
		{"page stops at short page", `{"url":"URL/page","pagination":{"mode":"page","page_param":"pg","page_size":3,"items_field":"data.items"}}`,
			[]string{`{"data":{"items":["a","b","c"]}}`, `{"data":{"items":["d","e","f"]}}`, `{"data":{"items":["g"]}}`}, nil},
		{"page stops at empty page", `{"url":"URL/page","pagination":{"mode":"page","page_param":"pg","items_field":"data.items"}}`,
			[]string{`{"data":{"items":["a","b","c"]}}`, `{"data":{"items":["d","e","f"]}}`, `{"data":{"items":["g"]}}`}, nil},
		{"offset", `{"url":"URL/offset","pagination":{"mode":"offset","page_size":4,"items_field":"data.items"}}`,
			[]string{`{"data":{"items":["a","b","c","d"]}}`, `{"data":{"items":["e","f","g"]}}`}, nil},
		{"cursor", `{"url":"URL/cursor","pagination":{"mode":"cursor","cursor_param":"after","cursor_field":"meta.next"}}`,
			[]string{`{"meta":{"next":"1"},"n":0}`, `{"meta":{"next":"2"},"n":1}`, `{"meta":{"next":null},"n":2}`}, nil},
		{"self link does not loop", `{"url":"URL/csv?again"}`, []string{"a,b\n1,2\n"}, []string{"page-000001.csv"}},
	}
	b := newBundle(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pages, err := collect(t, b.src, strings.Replace(tt.cfg, "URL", srv.URL, 1))
			if err != nil {
				t.Fatal(err)
			}
			if got := bodies(pages); !slices.Equal(got, tt.bodies) {
				t.Fatalf("bodies = %q, want %q", got, tt.bodies)
			}
			for i, want := range tt.names {
				if pages[i].name != want {
					t.Errorf("page %d name = %q, want %q", i+1, pages[i].name, want)
				}
			}
			if last := pages[len(pages)-1]; !strings.Contains(tt.name, "empty page") && !strings.Contains(string(last.checkpoint), `"done":true`) {
				t.Errorf("last checkpoint = %s, want done", last.checkpoint)
			}
		})
	}
}

// TestResume checks that the checkpoint alone resumes at the right page, as
// a fresh process would.
func TestResume(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		fmt.Fprintf(w, `{"n":%d,"next":%d}`, c, c+10)
	}))
	t.Cleanup(srv.Close)
	cfg := json.RawMessage(`{"url":"` + srv.URL + `/","pagination":{"mode":"cursor","cursor_field":"next"}}`)
	first := newBundle(t, nil).src
	_, cp, err := first.Plan(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for seq := 1; seq <= 2; seq++ {
		item, err := first.Next(t.Context(), cfg, seq, cp)
		if err != nil {
			t.Fatal(err)
		}
		_ = item.Body.Close()
		cp = item.Checkpoint
	}
	second := newBundle(t, nil).src
	item, err := second.Next(t.Context(), cfg, 3, cp)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(item.Body)
	_ = item.Body.Close()
	if string(got) != `{"n":20,"next":30}` {
		t.Fatalf("page 3 = %s", got)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		statuses   []int
		retryAfter string
		wantErr    string // "" success, "permanent", "retry_after", "transient"
		wantCalls  int32
	}{
		{"503 then ok", []int{503, 503, 200}, "", "", 3},
		{"429 with Retry-After 1s then ok", []int{429, 200}, "1", "", 2},
		{"429 with long Retry-After", []int{429, 200}, "120", "retry_after", 1},
		{"429 with HTTP-date Retry-After", []int{429, 200}, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), "retry_after", 1},
		{"5xx until attempts run out", []int{500, 502, 504, 200}, "", "transient", 3},
		{"404 is permanent", []int{404}, "", "permanent", 1},
		{"401 is permanent", []int{401}, "", "permanent", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				n := calls.Add(1)
				code := tt.statuses[min(int(n), len(tt.statuses))-1]
				if code != 200 && tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(code)
				_, _ = w.Write([]byte("body"))
			}))
			t.Cleanup(srv.Close)
			b := newBundle(t, nil)
			start := time.Now()
			_, err := collect(t, b.src, `{"url":"`+srv.URL+`/x?api_key=QUERYSECRET"}`)
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			var ra *intake.RetryAfterError
			switch tt.wantErr {
			case "":
				if err != nil {
					t.Fatal(err)
				}
				if tt.retryAfter == "1" && time.Since(start) < 900*time.Millisecond {
					t.Errorf("Retry-After 1 not honoured: took %s", time.Since(start))
				}
			case "permanent":
				if !intake.IsPermanent(err) {
					t.Fatalf("err = %v, want permanent", err)
				}
			case "retry_after":
				if !errors.As(err, &ra) || ra.After < time.Minute {
					t.Fatalf("err = %v, want RetryAfterError of a minute or more", err)
				}
			case "transient":
				if err == nil || intake.IsPermanent(err) || errors.As(err, &ra) {
					t.Fatalf("err = %v, want transient", err)
				}
			}
			if err != nil {
				if strings.Contains(err.Error(), "QUERYSECRET") {
					t.Errorf("error leaks the query: %v", err)
				}
				if !strings.Contains(err.Error(), srv.URL+"/x") {
					t.Errorf("error does not name the URL: %v", err)
				}
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var gotAuth atomic.Value // header seen by the final handler, per host
	mux := http.NewServeMux()
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Host + "|" + r.Header.Get("Authorization") + "|" + r.Header.Get("X-Api-Key"))
		_, _ = w.Write([]byte("final"))
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	port := itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	base := func(host string) string { return "http://" + host + ":" + port }

	tests := []struct {
		name      string
		url       string
		wantErr   bool
		wantSeen  string
		permanent bool
	}{
		{"same host keeps secrets", base("a.test") + "/to?u=/final", false, "a.test:" + port + "|" + testSecret + "|" + testSecret, false},
		{"other host drops secrets", base("a.test") + "/to?u=" + base("b.test") + "/final", false, "b.test:" + port + "||", false},
		{"redirect loop capped", base("a.test") + "/loop", true, "", true},
		{"redirect to metadata refused", base("a.test") + "/to?u=http://169.254.169.254/latest/meta-data/", true, "", true},
		{"redirect to decimal loopback refused", base("a.test") + "/to?u=http://2130706433/", true, "", true},
		{"redirect to file scheme refused", base("a.test") + "/to?u=file:///etc/passwd", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBundle(t, func(o *Options) {
				o.Secrets["KEY2"] = Secret{Value: testSecret, Hosts: []string{"a.test"}}
			})
			gotAuth.Store("")
			cfg := `{"url":"` + tt.url + `","secret_headers":{"Authorization":"ACME_TOKEN","X-Api-Key":"key2"}}`
			_, err := collect(t, b.src, cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && intake.IsPermanent(err) != tt.permanent {
				t.Fatalf("err = %v, permanent=%v", err, intake.IsPermanent(err))
			}
			if tt.wantSeen != "" && gotAuth.Load() != tt.wantSeen {
				t.Fatalf("final request saw %q, want %q", gotAuth.Load(), tt.wantSeen)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			if strings.Contains(b.logs.String(), testSecret) {
				t.Fatalf("logs leak the secret: %s", b.logs)
			}
		})
	}
}

func TestSizeCap(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.Header().Set("Content-Type", "text/plain")
			for range 4 {
				_, _ = w.Write([]byte(big[:1024]))
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = w.Write([]byte(big))
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name string
		cfg  string
	}{
		{"Content-Length over the cap", `{"url":"` + srv.URL + `/"}`},
		{"streamed body over the cap", `{"url":"` + srv.URL + `/?chunked"}`},
		{"buffered mode over the cap", `{"url":"` + srv.URL + `/?chunked","pagination":{"mode":"cursor","cursor_field":"c"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, func(o *Options) { o.MaxResponseBytes = 2000 })
			pages, err := collect(t, b.src, tt.cfg)
			if !intake.IsPermanent(err) || !strings.Contains(err.Error(), "2000-byte limit") {
				t.Fatalf("err = %v, want permanent size error", err)
			}
			if len(pages) != 0 {
				t.Fatalf("pages = %d", len(pages))
			}
		})
	}
	b := newBundle(t, func(o *Options) { o.MaxResponseBytes = 4096 })
	pages, err := collect(t, b.src, `{"url":"`+srv.URL+`/?chunked"}`)
	if err != nil || len(pages) != 1 || len(pages[0].body) != 4096 {
		t.Fatalf("at the cap: %v, %d pages", err, len(pages))
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		w.Header().Set("Link", `<http://b.test:`+r.URL.Port()+`/elsewhere>; rel="next"`)
		if r.URL.Path == "/elsewhere" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	port := itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	srvURL := "http://a.test:" + port
	// Fix the Link's port: the handler cannot see it from r.URL.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Host + "|" + r.Header.Get("Authorization"))
		if r.URL.Path == "/elsewhere" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Link", `<http://b.test:`+port+`/elsewhere>; rel="next"`)
		_, _ = w.Write([]byte("{}"))
	})
	b := newBundle(t, nil)
	pages, err := collect(t, b.src, `{"url":"`+srvURL+`/","secret_headers":{"Authorization":"ACME_TOKEN"}}`)
	if len(pages) != 1 || !intake.IsPermanent(err) {
		t.Fatalf("pages = %d, err = %v; want 1 page then a permanent 403", len(pages), err)
	}
	if got := seen.Load(); got != "b.test:"+port+"|" {
		t.Fatalf("next page on another host saw %q, want no secret", got)
	}
	for what, s := range map[string]string{"error": err.Error(), "logs": b.logs.String(), "checkpoint": string(pages[0].checkpoint)} {
		if strings.Contains(s, testSecret) {
			t.Errorf("%s leaks the secret: %s", what, s)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	b := newBundle(t, func(o *Options) {
		o.Allow = nil
		o.Secrets["ACME_TOKEN"] = Secret{Value: testSecret, Hosts: []string{"a.test", "api.example.com"}}
	})
	tests := []struct {
		name string
		cfg  string
		locs []string // expected field locations; nil for valid
	}{
		{"minimal", `{"url":"https://api.example.com/v1"}`, nil},
		{"full", string(b.src.Example()), nil},
		{"post with body", `{"url":"https://api.example.com/","method":"POST","body":{"q":1},"headers":{"Accept":"application/json"}}`, nil},
		{"not an object", `[1]`, []string{""}},
		{"missing url", `{}`, []string{"url"}},
		{"unknown fields", `{"url":"https://a.example/","x":1,"pagination":{"mode":"page","y":2}}`, []string{"x", "pagination.y"}},
		{"bad scheme", `{"url":"ftp://a.example/"}`, []string{"url"}},
		{"relative", `{"url":"/x"}`, []string{"url"}},
		{"credentials in url", `{"url":"https://u:p@a.example/"}`, []string{"url"}},
		{"loopback literal", `{"url":"http://127.0.0.1/"}`, []string{"url"}},
		{"decimal host", `{"url":"http://2130706433/"}`, []string{"url"}},
		{"hex host", `{"url":"http://0x7f.1/"}`, []string{"url"}},
		{"octal host", `{"url":"http://017700000001/"}`, []string{"url"}},
		{"mapped v6", `{"url":"http://[::ffff:169.254.169.254]/"}`, []string{"url"}},
		{"metadata", `{"url":"http://169.254.169.254/latest/meta-data/"}`, []string{"url"}},
		{"bad method", `{"url":"https://a.example/","method":"DELETE"}`, []string{"method"}},
		{"body with GET", `{"url":"https://a.example/","body":{"a":1}}`, []string{"body"}},
		{"authorization literal", `{"url":"https://a.example/","headers":{"authorization":"Bearer x"}}`, []string{"headers.authorization"}},
		{"host header", `{"url":"https://a.example/","headers":{"Host":"evil"}}`, []string{"headers.Host"}},
		{"crlf header", `{"url":"https://a.example/","headers":{"X-A":"a\r\nB: c"}}`, []string{"headers.X-A"}},
		{"unknown secret", `{"url":"https://a.test/","secret_headers":{"Authorization":"NOPE"}}`, []string{"secret_headers.Authorization"}},
		{"secret bound elsewhere", `{"url":"https://evil.example/","secret_headers":{"Authorization":"ACME_TOKEN"}}`, []string{"secret_headers.Authorization"}},
		{"secret ok", `{"url":"https://a.test/","secret_headers":{"Authorization":"acme_token"}}`, nil},
		{"bad mode", `{"url":"https://a.example/","pagination":{"mode":"magic"}}`, []string{"pagination.mode"}},
		{"offset without size", `{"url":"https://a.example/","pagination":{"mode":"offset"}}`, []string{"pagination.page_size"}},
		{"cursor without field", `{"url":"https://a.example/","pagination":{"mode":"cursor"}}`, []string{"pagination.cursor_field"}},
		{"wrong type in pagination", `{"url":"https://a.example/","pagination":{"page_size":"3"}}`, []string{"pagination.page_size"}},
		{"limits", `{"url":"https://a.example/","max_pages":10001,"timeout":301}`, []string{"max_pages", "timeout"}},
		{"zero limits", `{"url":"https://a.example/","max_pages":0,"timeout":0}`, []string{"max_pages", "timeout"}},
		{"wrong types", `{"url":1,"headers":[],"query":"x"}`, []string{"url", "headers", "query"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := b.src.Validate(t.Context(), json.RawMessage(tt.cfg))
			if tt.locs == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ie *intake.Error
			if !errors.As(err, &ie) || ie.Code != intake.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			var locs []string
			for _, f := range ie.Fields {
				locs = append(locs, f.Location)
			}
			if !slices.Equal(locs, tt.locs) {
				t.Fatalf("locations = %q, want %q (%v)", locs, tt.locs, ie.Fields)
			}
		})
	}
}

func TestMaxDocumentsAndSchema(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	for cfg, want := range map[string]int{
		`{"url":"https://a.example/"}`:                DefaultMaxPages,
		`{"url":"https://a.example/","max_pages":7}`:  7,
		`{"url":"https://a.example/","max_pages":-1}`: 0,
	} {
		if got := b.src.MaxDocuments(json.RawMessage(cfg)); got != want {
			t.Errorf("MaxDocuments(%s) = %d, want %d", cfg, got, want)
		}
	}
	name, v := b.src.ConfigSchema()
	if name != "ApiSourceConfig" {
		t.Errorf("schema name %q", name)
	}
	if _, ok := v.(Config); !ok {
		t.Errorf("schema value %T", v)
	}
}

func TestParseLinks(t *testing.T) {
	t.Parallel()
	links := parseLinks([]string{`<https://a/x?p=2>; rel="next"; title="a, b", <https://a/x?p=9>; rel=last`, `<https://a/y>;rel="prev next"`})
	var got []string
	for _, l := range links {
		got = append(got, fmt.Sprintf("%s %v", l.target, l.rels))
	}
	want := []string{"https://a/x?p=2 [next]", "https://a/x?p=9 [last]", "https://a/y [prev next]"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestIdentity: a page's identity is the config's URL, secret-looking
// query values masked, and the page's number; next links that differ
// between collections (a fresh token each time) do not change it.
func TestIdentity(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		if p < 2 {
			w.Header().Set("Link", fmt.Sprintf(`</list?p=%d&token=%d>; rel="next"`, p+1, calls.Add(1)))
		}
		fmt.Fprintf(w, "page %d\n", p)
	}))
	t.Cleanup(srv.Close)
	cfg := `{"url":"` + srv.URL + `/list?api_key=k3y-in-the-url","query":{"status":"final"}}`
	src := newBundle(t, nil).src
	first, err := collect(t, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := collect(t, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 || len(second) != 3 {
		t.Fatalf("collected %d and %d pages, want 3", len(first), len(second))
	}
	for i := range first {
		want := srv.URL + "/list?api_key=xxxxx&status=final#page=" + itoa(i+1)
		if first[i].identity != want || second[i].identity != want {
			t.Errorf("page %d: identities %q and %q, want %q", i+1, first[i].identity, second[i].identity, want)
		}
	}
}
