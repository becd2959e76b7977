package database

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intake-dev/intake"
)

// pageResult is what readPage read.
type pageResult struct {
	rows int      // rows kept in the document
	last []string // key text of the last kept row
	more bool     // a row beyond the page exists
}

// readPage runs the page query and encodes up to limit rows into w.
func readPage(ctx context.Context, tx pgx.Tx, cfg Config, after []string, limit int, w *spool) (pageResult, error) {
	var res pageResult
	fields, err := describe(ctx, tx, cfg)
	if err != nil {
		return res, err
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	sql, args := pageQuery(cfg, after, limit)
	rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryExecModeDescribeExec, resultFormats(fields)}, args...)...)
	if err != nil {
		return res, classify(ctx, cfg.Connection, err)
	}
	defer rows.Close()

	enc, err := newEncoder(cfg.Format, names, w)
	if err != nil {
		return res, err
	}
	n := len(names)
	fds := rows.FieldDescriptions()
	if len(fds) != n+len(cfg.Key) {
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, classify(ctx, cfg.Connection, err)
		}
		return res, intake.Permanent(fmt.Errorf("database source: page query returned %d columns, want %d", len(fds), n+len(cfg.Key)))
	}
	oids := make([]uint32, n)
	formats := make([]int16, n)
	for i := range n {
		oids[i], formats[i] = fds[i].DataTypeOID, fds[i].Format
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return res, intake.Permanent(fmt.Errorf("database source: decode row %d: %w", res.rows+1, err))
		}
		key := make([]string, len(cfg.Key))
		for i := range cfg.Key {
			v, ok := vals[n+i].(string)
			if vals[n+i] == nil || !ok {
				return res, intake.Permanent(fmt.Errorf("database source: key column %q is NULL in a row; the key must be unique and never NULL", cfg.Key[i]))
			}
			key[i] = v
		}
		if res.last != nil && slices.Equal(res.last, key) {
			return res, intake.Permanent(fmt.Errorf("database source: key (%s) is not unique: two rows have %s", strings.Join(cfg.Key, ", "), strings.Join(key, ", ")))
		}
		if res.rows == limit {
			res.more = true
			break
		}
		raws := rows.RawValues()
		if err := enc.row(oids, vals[:n], raws[:n], formats); err != nil {
			return res, err
		}
		res.rows++
		res.last = key
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, classify(ctx, cfg.Connection, err)
	}
	if err := enc.flush(); err != nil {
		return res, err
	}
	return res, nil
}

// pageQuery wraps the query for one page of keyset pagination. The query
// goes on lines of its own, so that a trailing line comment cannot swallow
// the wrapper; the page reads one row more than it keeps.
func pageQuery(cfg Config, after []string, limit int) (string, []any) {
	const alias = "intake_q"
	cols := make([]string, len(cfg.Key))
	for i, k := range cfg.Key {
		cols[i] = alias + "." + pgx.Identifier{k}.Sanitize()
	}
	var b strings.Builder
	b.WriteString("SELECT " + alias + ".*")
	for _, c := range cols {
		b.WriteString(", " + c + "::text")
	}
	b.WriteString(" FROM (\n" + cfg.Query + "\n) AS " + alias)
	args := append([]any(nil), cfg.Params...)
	if len(after) > 0 {
		ps := make([]string, len(after))
		for i, v := range after {
			args = append(args, v)
			ps[i] = "$" + strconv.Itoa(len(args))
		}
		b.WriteString("\nWHERE (" + strings.Join(cols, ", ") + ") > (" + strings.Join(ps, ", ") + ")")
	}
	b.WriteString("\nORDER BY " + strings.Join(cols, ", "))
	b.WriteString("\nLIMIT " + strconv.Itoa(limit+1))
	return b.String(), args
}

// describe prepares the query alone and checks what it returns: columns,
// with unique names, including the key columns, and as many parameters as
// the config has.
func describe(ctx context.Context, tx pgx.Tx, cfg Config) ([]pgconn.FieldDescription, error) {
	sd, err := tx.Conn().PgConn().Prepare(ctx, "", cfg.Query, nil)
	if err != nil {
		return nil, classify(ctx, cfg.Connection, err)
	}
	if len(sd.Fields) == 0 {
		return nil, intake.Invalid("database config", intake.FieldError{Location: "query", Message: "returns no columns: it must be a SELECT (or WITH … SELECT)"})
	}
	if len(sd.ParamOIDs) != len(cfg.Params) {
		return nil, intake.Invalid("database config", intake.FieldError{
			Location: "params",
			Message:  fmt.Sprintf("the query takes %d parameters, params has %d", len(sd.ParamOIDs), len(cfg.Params)),
		})
	}
	seen := make(map[string]bool, len(sd.Fields))
	for _, f := range sd.Fields {
		if seen[f.Name] {
			return nil, intake.Invalid("database config", intake.FieldError{Location: "query", Message: "result column names must be unique; alias the duplicates", Value: f.Name})
		}
		seen[f.Name] = true
	}
	var errs []intake.FieldError
	for i, k := range cfg.Key {
		if !seen[k] {
			errs = append(errs, intake.FieldError{Location: fmt.Sprintf("key[%d]", i), Message: "is not a column of the query's result", Value: k})
		}
	}
	if len(errs) > 0 {
		return nil, intake.Invalid("database config", errs...)
	}
	return sd.Fields, nil
}
