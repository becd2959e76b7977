package postgresstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/intake-dev/intake"
	"github.com/jackc/pgx/v5"
)

// docColumns lists the columns scanDoc reads, in order.
const docColumns = `id, job_id, seq, name, document_type, content_type, size_bytes, sha256, blob_key, collected_at,
	identity, change`

// scanDoc reads one row of docColumns.
func scanDoc(row pgx.Row) (*intake.Document, error) {
	var (
		d           intake.Document
		collectedAt time.Time
	)
	err := row.Scan(&d.ID, &d.JobID, &d.Seq, &d.Name, &d.DocumentType, &d.ContentType, &d.SizeBytes,
		&d.SHA256, &d.BlobKey, &collectedAt, &d.Identity, &d.Change)
	if err != nil {
		return nil, err
	}
	d.CollectedAt = collectedAt.UTC()
	return &d, nil
}

// GetDocument returns document seq of a job, nil when there is none.
func (s *Driver) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	d, err := scanDoc(s.pool.QueryRow(ctx,
		`SELECT `+docColumns+` FROM documents WHERE job_id = $1 AND seq = $2`, jobID, seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// ListDocuments returns up to limit documents of a job with Seq greater
// than after, in Seq order.
func (s *Driver) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+docColumns+` FROM documents
		WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, jobID, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*intake.Document, error) { return scanDoc(row) })
}

// keyChunk bounds the keys of one ReferencedBlobKeys statement (they travel
// as one array parameter), so that each stays well inside the statement
// timeout however many keys an orphan sweep passes.
const keyChunk = 5000

// ReferencedBlobKeys returns which of keys some document references.
func (s *Driver) ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool)
	for chunk := range slices.Chunk(keys, keyChunk) {
		rows, err := s.pool.Query(ctx,
			`SELECT DISTINCT blob_key FROM documents WHERE blob_key = ANY($1::text[])`, chunk)
		if err != nil {
			return nil, err
		}
		var k string
		_, err = pgx.ForEachRow(rows, []any{&k}, func() error {
			out[k] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
