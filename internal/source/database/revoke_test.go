package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/testenv"
)

// readmeRevoke is the README's REVOKE EXECUTE block for the reader role.
var readmeRevoke = regexp.MustCompile("(?s)```sql\n(REVOKE EXECUTE ON FUNCTION.*?FROM PUBLIC;)")

// TestReadmeRevokeList applies the README's REVOKE list in a database of
// its own on the real server (function privileges are per database), and
// checks that a role created as the README says can then execute none of
// the functions the query filter refuses, and that calling one fails on
// the server with insufficient_privilege.
func TestReadmeRevokeList(t *testing.T) {
	base := testenv.Postgres.URL(t)
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := readmeRevoke.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```sql block starting REVOKE EXECUTE ON FUNCTION … FROM PUBLIC;")
	}
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "intake_revoke_" + hex.EncodeToString(rnd[:])
	exec := func(c *pgx.Conn, sql string) {
		t.Helper()
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(admin, "CREATE DATABASE "+name)
	exec(admin, "CREATE ROLE "+name+" LOGIN")
	t.Cleanup(func() {
		bg := context.Background()
		_, _ = admin.Exec(bg, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_, _ = admin.Exec(bg, "DROP ROLE IF EXISTS "+name)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	super, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(context.Background())
	exec(super, string(m[1]))
	exec(super, "GRANT CONNECT ON DATABASE "+name+" TO "+name)

	rows, err := super.Query(ctx, `SELECT p.oid::regprocedure::text FROM pg_proc p
		WHERE p.proname = ANY($1) AND has_function_privilege($2, p.oid, 'EXECUTE') ORDER BY 1`,
		database.ExportRefusedFunctions, name)
	if err != nil {
		t.Fatal(err)
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(open) > 0 {
		t.Errorf("after the README's REVOKE list the reader may still execute %q", open)
	}

	u.User = url.User(name)
	reader, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(context.Background())
	for _, call := range []string{
		"SELECT pg_terminate_backend(pg_backend_pid())",
		"SELECT pg_logical_emit_message(false, 'intake', 'x')",
		"SELECT pg_notify('intake', 'x')",
		"SELECT * FROM query_to_xml('select 1', true, true, '')",
	} {
		_, err := reader.Exec(ctx, "BEGIN READ ONLY; "+call+"; COMMIT")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as the reader: %v, want insufficient_privilege (42501)", call, err)
		}
		_, _ = reader.Exec(ctx, "ROLLBACK")
	}
}
