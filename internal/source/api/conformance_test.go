package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/api"
	"github.com/intake-dev/intake/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, harness)
}

// harness collects from an API on 127.0.0.1, which the Sources' egress
// policy allows by name (the default refuses loopback). It serves seven
// items in every pagination mode the source has, and /stall, which
// answers no request before the client gives up.
func harness(t *testing.T) sourcetest.Bundle {
	items := []string{"a", "b", "c", "d", "e", "f", "g"}
	page := func(w http.ResponseWriter, from, size int) {
		from, to := min(max(from, 0), len(items)), min(max(from, 0)+size, len(items))
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(map[string]any{"data": map[string]any{"items": items[from:to]}, "from": from})
		_, _ = w.Write(b)
	}
	blocked := make(chan struct{})
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		if p < 4 {
			w.Header().Set("Link", fmt.Sprintf(`</link?p=%d>; rel="next"`, p+1))
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "page %d\n", p)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page(w, (p-1)*2, 2)
	})
	mux.HandleFunc("/offset", func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		page(w, off, limit)
	})
	mux.HandleFunc("/cursor", func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("after"))
		next := ""
		if i+3 < len(items) {
			next = strconv.Itoa(i + 3)
		}
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(map[string]any{"items": items[i:min(i+3, len(items))], "meta": map[string]string{"next": next}})
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/stall", func(_ http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(blocked) })
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	open := func(t *testing.T) intake.Source {
		s, err := api.New(api.Options{Allow: []string{"127.0.0.1/32"}, RetryBaseDelay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	config := func(path, rest string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"url":%q%s}`, srv.URL+path, rest))
	}
	return sourcetest.Bundle{
		Open: open,
		Configs: map[string]json.RawMessage{
			"link":   config("/link?p=1", `,"max_pages":10,"headers":{"Accept":"text/plain"}`),
			"page":   config("/page", `,"pagination":{"mode":"page","page_size":2,"items_field":"data.items"}`),
			"offset": config("/offset", `,"pagination":{"mode":"offset","page_size":2,"items_field":"data.items"},"timeout":10`),
			"cursor": config("/cursor", `,"method":"GET","query":{"sort":"asc"},"pagination":{"mode":"cursor","cursor_param":"after","cursor_field":"meta.next"}`),
		},
		Stall: func(t *testing.T) (intake.Source, json.RawMessage, <-chan struct{}) {
			return open(t), config("/stall", ""), blocked
		},
	}
}
