package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/intake-dev/intake"
)

// docColumns lists the columns scanDoc reads, in order.
const docColumns = `id, job_id, seq, name, document_type, content_type, size_bytes, sha256, blob_key, collected_at,
	identity, change`

func scanDoc(row scanner) (*intake.Document, error) {
	var (
		d           intake.Document
		collectedAt int64
	)
	err := row.Scan(&d.ID, &d.JobID, &d.Seq, &d.Name, &d.DocumentType, &d.ContentType, &d.SizeBytes,
		&d.SHA256, &d.BlobKey, &collectedAt, &d.Identity, &d.Change)
	if err != nil {
		return nil, err
	}
	d.CollectedAt = fromMS(collectedAt)
	return &d, nil
}

// GetDocument returns document seq of a job, nil when there is none.
func (s *Driver) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	d, err := scanDoc(s.reader.QueryRowContext(ctx,
		`SELECT `+docColumns+` FROM documents WHERE job_id = ? AND seq = ?`, jobID, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// ListDocuments returns up to limit documents of a job with Seq greater
// than after, in Seq order.
func (s *Driver) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	return queryAll(ctx, s.reader, scanDoc, `SELECT `+docColumns+` FROM documents
		WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, jobID, after, limit)
}

// keyChunk bounds the parameters of one ReferencedBlobKeys query, well
// below SQLite's limit on host parameters.
const keyChunk = 500

// ReferencedBlobKeys returns which of keys some document references.
func (s *Driver) ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool)
	for chunk := range slices.Chunk(keys, keyChunk) {
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		err := eachRow(ctx, s.reader, func(row scanner) error {
			var k string
			if err := row.Scan(&k); err != nil {
				return err
			}
			out[k] = true
			return nil
		}, `SELECT DISTINCT blob_key FROM documents WHERE blob_key IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prefixed qualifies each of a list of columns with prefix ("p.").
func prefixed(prefix, columns string) string {
	return prefix + strings.Join(strings.Split(strings.Join(strings.Fields(columns), " "), ", "), ", "+prefix)
}
