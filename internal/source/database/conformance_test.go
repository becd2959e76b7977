package database_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, harness)
}

// harness collects from a schema of its own on the test PostgreSQL, seven
// rows of table t. Its stalled query sleeps on the server; the harness
// watches pg_stat_activity to tell when it does.
func harness(t *testing.T) sourcetest.Bundle {
	b := newBundle(t)
	b.insertRows(t, 1, 2, 3, 5, 8, 13, 21)
	open := func(t *testing.T) intake.Source {
		s, err := database.New(database.Options{Connections: map[string]string{"main": b.url}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return sourcetest.Bundle{
		Open: open,
		Configs: map[string]json.RawMessage{
			"ndjson": json.RawMessage(`{"connection":"main","query":"SELECT id, name, amount FROM t","key":["id"],"rows_per_document":2}`),
			"csv": json.RawMessage(`{"connection":"MAIN","query":"SELECT id, name FROM t WHERE id > $1 AND flag = $2",` +
				`"params":[1,false],"key":["id"],"rows_per_document":1,"format":"csv"}`),
			"composite key": json.RawMessage(`{"connection":"main","query":"SELECT id % 3 AS bucket, id, name FROM t","key":["bucket","id"],"rows_per_document":3,"params":null}`),
		},
		Stall: func(t *testing.T) (intake.Source, json.RawMessage, <-chan struct{}) {
			marker := "stall " + b.schema
			blocked := make(chan struct{})
			go func() {
				for {
					var n int
					err := b.admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
						WHERE wait_event = 'PgSleep' AND strpos(query, $1) > 0`, marker).Scan(&n)
					if err != nil || n > 0 {
						close(blocked)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			config := fmt.Sprintf(`{"connection":"main","query":"SELECT 1 AS id FROM pg_sleep(3600) /* %s */","key":["id"]}`, marker)
			return open(t), json.RawMessage(config), blocked
		},
	}
}
