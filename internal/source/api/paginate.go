package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/intake-dev/intake/internal/redact"
)

// checkpoint is the state saved with each page: the URL of the next page
// and the pagination counters, or done when there is none. It never holds
// header values.
type checkpoint struct {
	URL    string `json:"url,omitempty"`
	Page   int    `json:"page,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Done   bool   `json:"done,omitempty"`
}

// first returns the checkpoint of the first page.
func (cfg *config) first() checkpoint {
	if cfg.mode == ModePage {
		return checkpoint{URL: cfg.pageURL(cfg.start, 0, ""), Page: cfg.start}
	}
	return checkpoint{URL: cfg.pageURL(0, 0, "")}
}

// pageURL returns the config's URL with the pagination parameters of a page
// set for the config's mode.
func (cfg *config) pageURL(page, offset int, cursor string) string {
	u := *cfg.url
	q := u.Query()
	switch cfg.mode {
	case ModePage:
		q.Set(cfg.page.PageParam, strconv.Itoa(page))
		if cfg.page.SizeParam != "" && cfg.page.PageSize > 0 {
			q.Set(cfg.page.SizeParam, strconv.Itoa(cfg.page.PageSize))
		}
	case ModeOffset:
		q.Set(cfg.page.OffsetParam, strconv.Itoa(offset))
		q.Set(cfg.page.SizeParam, strconv.Itoa(cfg.page.PageSize))
	case ModeCursor:
		if cursor != "" {
			q.Set(cfg.page.CursorParam, cursor)
		}
	default:
		return u.String()
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// advance computes the checkpoint after a page of a JSON mode from the
// page's body. It reports exhausted when the page is empty and not the
// first, in which case the page is not a document.
func (cfg *config) advance(cp checkpoint, data []byte, seq int) (next checkpoint, exhausted bool, err error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return checkpoint{}, false, fmt.Errorf("response is not JSON (pagination mode %s needs it): %w", cfg.mode, err)
	}
	switch cfg.mode {
	case ModeCursor:
		v, _ := lookup(doc, cfg.page.CursorField)
		var cursor string
		switch c := v.(type) {
		case string:
			cursor = c
		case json.Number:
			cursor = c.String()
		case nil:
		default:
			return checkpoint{}, false, fmt.Errorf("cursor_field %q is neither a string nor a number", cfg.page.CursorField)
		}
		if cursor == "" || cursor == cp.Cursor {
			return checkpoint{Done: true}, false, nil
		}
		return checkpoint{URL: cfg.pageURL(0, 0, cursor), Cursor: cursor}, false, nil
	default: // page, offset
		v, ok := lookup(doc, cfg.page.ItemsField)
		items, isArray := v.([]any)
		if !ok || !isArray {
			return checkpoint{}, false, fmt.Errorf("items_field %q is not an array in the response", cfg.page.ItemsField)
		}
		if len(items) == 0 {
			if seq > 1 {
				return checkpoint{}, true, nil
			}
			return checkpoint{Done: true}, false, nil
		}
		if cfg.page.PageSize > 0 && len(items) < cfg.page.PageSize {
			return checkpoint{Done: true}, false, nil
		}
		if cfg.mode == ModePage {
			return checkpoint{URL: cfg.pageURL(cp.Page+1, 0, ""), Page: cp.Page + 1}, false, nil
		}
		off := cp.Offset + len(items)
		return checkpoint{URL: cfg.pageURL(0, off, ""), Offset: off}, false, nil
	}
}

// lookup follows a dotted path of object keys (and array indexes) in v.
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for key := range strings.SplitSeq(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[key]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// identity returns the Identity of page seq: the config's URL (its query
// parameters merged in, the values of secret-looking ones masked) and
// "#page=" seq. It names the page by its place in the job, not by the URL
// it was fetched from, since next links and cursors may differ between
// collections of the same pages.
func (cfg *config) identity(seq int) string {
	return redact.String(cfg.url.String()) + "#page=" + strconv.Itoa(seq)
}

// pageName returns "page-000001" with an extension for the content type.
func pageName(seq int, contentType string) string {
	ext := ".bin"
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			ext = ".json"
		case mt == "application/x-ndjson" || mt == "application/jsonl":
			ext = ".ndjson"
		case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
			ext = ".xml"
		case mt == "text/csv":
			ext = ".csv"
		case mt == "text/html":
			ext = ".html"
		case mt == "text/plain":
			ext = ".txt"
		case mt == "application/pdf":
			ext = ".pdf"
		}
	}
	return fmt.Sprintf("page-%06d%s", seq, ext)
}

// nextLink returns the absolute URL of the response's Link rel="next", if
// any, resolved against the URL the response came from.
func nextLink(resp *http.Response) (string, bool) {
	for _, l := range parseLinks(resp.Header.Values("Link")) {
		if !l.hasRel("next") {
			continue
		}
		ref, err := url.Parse(l.target)
		if err != nil {
			return "", false
		}
		return resp.Request.URL.ResolveReference(ref).String(), true
	}
	return "", false
}

// link is one RFC 8288 link of a Link header.
type link struct {
	target string
	rels   []string
}

func (l link) hasRel(rel string) bool {
	for _, r := range l.rels {
		if strings.EqualFold(r, rel) {
			return true
		}
	}
	return false
}

// parseLinks parses Link header values: comma-separated "<target>" with
// ";"-separated parameters, of which rel (a space-separated list) matters.
func parseLinks(values []string) []link {
	var out []link
	for _, v := range values {
		for len(v) > 0 {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			l := link{target: v[1:end]}
			v = v[end+1:]
			// Parameters until the next top-level comma.
			for {
				v = strings.TrimLeft(v, " \t")
				if !strings.HasPrefix(v, ";") {
					break
				}
				v = strings.TrimLeft(v[1:], " \t")
				i := strings.IndexAny(v, "=;,")
				if i < 0 {
					v = ""
					break
				}
				name := strings.ToLower(strings.TrimSpace(v[:i]))
				if v[i] != '=' {
					v = v[i:]
					continue
				}
				v = strings.TrimLeft(v[i+1:], " \t")
				var val string
				if strings.HasPrefix(v, `"`) {
					j := 1
					var b strings.Builder
					for j < len(v) && v[j] != '"' {
						if v[j] == '\\' && j+1 < len(v) {
							j++
						}
						b.WriteByte(v[j])
						j++
					}
					val = b.String()
					v = v[min(j+1, len(v)):]
				} else {
					k := strings.IndexAny(v, ";,")
					if k < 0 {
						k = len(v)
					}
					val = strings.TrimSpace(v[:k])
					v = v[k:]
				}
				if name == "rel" {
					l.rels = append(l.rels, strings.Fields(val)...)
				}
			}
			out = append(out, l)
		}
	}
	return out
}
