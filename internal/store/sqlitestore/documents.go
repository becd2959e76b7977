package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/intake-dev/intake"
)

const docColumns = `id, job_id, seq, name, document_type, content_type, size_bytes, sha256, blob_key, collected_at`

func scanDoc(row interface{ Scan(...any) error }) (*intake.Document, error) {
	var (
		d           intake.Document
		collectedAt int64
	)
	err := row.Scan(&d.ID, &d.JobID, &d.Seq, &d.Name, &d.DocumentType, &d.ContentType, &d.SizeBytes,
		&d.SHA256, &d.BlobKey, &collectedAt)
	if err != nil {
		return nil, err
	}
	d.CollectedAt = fromMS(collectedAt)
	return &d, nil
}

// GetDocument returns document seq of a job, or an ENOTFOUND error.
func (s *Store) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	if seq < 1 || seq > intake.MaxSeq {
		return nil, intake.Errorf(intake.ENOTFOUND, "document %d of job %s not found", seq, jobID)
	}
	d, err := scanDoc(s.reader.QueryRowContext(ctx,
		`SELECT `+docColumns+` FROM documents WHERE job_id = ? AND seq = ?`, jobID, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, intake.Errorf(intake.ENOTFOUND, "document %d of job %s not found", seq, jobID)
	}
	if err != nil {
		return nil, s.wrap(err, "get document %d of job %s", seq, jobID)
	}
	return d, nil
}

// ListDocuments returns up to limit documents of a job with Seq greater
// than after, in Seq order. An unknown job has no documents.
func (s *Store) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	if after >= intake.MaxSeq {
		return []*intake.Document{}, nil
	}
	after = max(after, 0)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+docColumns+` FROM documents
		WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, jobID, after, pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "list documents of job %s", jobID)
	}
	defer rows.Close()
	docs := []*intake.Document{}
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, s.wrap(err, "list documents of job %s", jobID)
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list documents of job %s", jobID)
	}
	return docs, nil
}

// keyChunk bounds the parameters of one ReferencedBlobKeys query, well
// below SQLite's limit on host parameters.
const keyChunk = 500

// ReferencedBlobKeys returns which of keys some document references.
func (s *Store) ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool)
	for chunk := range slices.Chunk(keys, keyChunk) {
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		q := `SELECT DISTINCT blob_key FROM documents WHERE blob_key IN (?` +
			strings.Repeat(", ?", len(chunk)-1) + `)`
		if err := s.collectKeys(ctx, q, args, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) collectKeys(ctx context.Context, q string, args []any, out map[string]bool) error {
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return s.wrap(err, "referenced blob keys")
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return s.wrap(err, "referenced blob keys")
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return s.wrap(err, "referenced blob keys")
	}
	return nil
}
