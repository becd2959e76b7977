package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// materialise writes a committed document into documents unless it is
// there: an upsert on {job_id, seq} that only inserts. Every writer of a
// sequence number writes the same metadata, so losing a race to insert it
// (a duplicate key, with the document now there) is success.
func (s *Driver) materialise(ctx context.Context, d *docDoc) error {
	key := bson.D{{Key: "job_id", Value: d.JobID}, {Key: "seq", Value: d.Seq}}
	err := s.upsertDoc(ctx, key, d)
	if mongo.IsDuplicateKeyError(err) {
		n, cerr := s.docs.CountDocuments(ctx, key)
		if cerr != nil {
			return cerr
		}
		if n == 1 {
			return nil
		}
	}
	return err
}

// upsertDoc inserts document d at key unless a document is there.
func (s *Driver) upsertDoc(ctx context.Context, key bson.D, d *docDoc) error {
	fields := bson.D{
		{Key: "_id", Value: d.ID},
		{Key: "name", Value: d.Name},
		{Key: "document_type", Value: d.DocumentType},
		{Key: "content_type", Value: d.ContentType},
		{Key: "size_bytes", Value: d.SizeBytes},
		{Key: "sha256", Value: d.SHA256},
		{Key: "blob_key", Value: d.BlobKey},
		{Key: "collected_at", Value: d.CollectedAt},
	}
	if d.Identity != "" { // absent when empty, as in docDoc
		fields = append(fields, bson.E{Key: "identity", Value: d.Identity})
	}
	if d.Change != "" {
		fields = append(fields, bson.E{Key: "change", Value: d.Change})
	}
	_, err := s.docs.UpdateOne(ctx, key, bson.D{{Key: "$setOnInsert", Value: fields}},
		options.UpdateOne().SetUpsert(true))
	return err
}

// lastDoc returns a job's last committed document, nil when it has none,
// and whether the job exists.
func (s *Driver) lastDoc(ctx context.Context, jobID string) (*docDoc, bool, error) {
	var j jobDoc
	err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: jobID}},
		options.FindOne().SetProjection(bson.D{{Key: "last_doc", Value: 1}})).Decode(&j)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return j.LastDoc, true, nil
}

// rollForwardDoc materialises a job's last document for a reader. A
// failure is logged only: the reader has the metadata it needs.
func (s *Driver) rollForwardDoc(ctx context.Context, d *docDoc) {
	if err := s.materialise(ctx, d); err != nil {
		s.warn("materialise a committed document", err, "job_id", d.JobID, "seq", d.Seq)
	}
}

// RecordDocument commits a document with one fenced update of its job that
// requires collected = seq-1 and stores the metadata as the job's
// last_doc, then materialises it into documents. The document is recorded
// once the first step succeeds; a failure of the second is logged and
// repaired before the job's next commit and by every reader.
func (s *Driver) RecordDocument(ctx context.Context, now time.Time, owner string, doc *intake.Document, checkpoint []byte) (held bool, collected int, err error) {
	if err := s.settle(ctx, doc.JobID); err != nil {
		return false, 0, fmt.Errorf("materialise the previous document: %w", err)
	}
	last := newDocDoc(doc)
	filter := append(fence(doc.JobID, owner), bson.E{Key: "collected", Value: int64(doc.Seq - 1)})
	res, err := s.jobs.UpdateOne(ctx, filter, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "collected", Value: int64(doc.Seq)},
			{Key: "checkpoint", Value: checkpoint},
			{Key: "last_doc", Value: last},
			{Key: "updated_at", Value: now},
		}},
		{Key: "$inc", Value: bson.D{{Key: "bytes", Value: doc.SizeBytes}, {Key: "open_run.collected", Value: 1}}},
	})
	if err != nil {
		if ambiguous(err) { // it may have committed: check before the next
			s.remember(doc.JobID, nil)
		}
		return false, 0, err
	}
	if res.MatchedCount == 0 {
		// Not recorded: the lease is gone, or seq is not the next one.
		var d jobDoc
		err := s.jobs.FindOne(ctx, fence(doc.JobID, owner),
			options.FindOne().SetProjection(bson.D{{Key: "collected", Value: 1}})).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			s.forget(doc.JobID)
			return false, 0, nil
		}
		return err == nil, int(d.Collected), err
	}
	if err := s.materialise(ctx, last); err != nil {
		s.remember(doc.JobID, last)
		s.warn("record document: committed; materialising it failed and is retried before the next", err,
			"job_id", doc.JobID, "seq", doc.Seq)
	}
	return true, doc.Seq - 1, nil
}

// RecordDocuments records documents one by one with RecordDocument, each
// with its checkpoint: MongoDB's commit record is the job, one document at
// a time (FerretDB has no transactions), so a failure leaves the documents
// before it recorded and Collected at the last of them.
func (s *Driver) RecordDocuments(ctx context.Context, now time.Time, owner string, recs []intake.DocumentRecord) (recorded int, held bool, collected int, err error) {
	for i, rec := range recs {
		held, collected, err = s.RecordDocument(ctx, now, owner, rec.Document, rec.Checkpoint)
		if err != nil || !held || collected != rec.Document.Seq-1 {
			return i, held, collected, err
		}
	}
	return len(recs), true, 0, nil
}

// remember notes that the last document of a job may not be materialised;
// d is that document, or nil to read it from the job.
func (s *Driver) remember(jobID string, d *docDoc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsettled[jobID] = d
}

// forget drops a job's note, when its run ended.
func (s *Driver) forget(jobID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.unsettled, jobID)
}

// settle materialises the last document of a job when remember noted it.
func (s *Driver) settle(ctx context.Context, jobID string) error {
	s.mu.Lock()
	d, ok := s.unsettled[jobID]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if d == nil {
		var j jobDoc
		err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: jobID}},
			options.FindOne().SetProjection(bson.D{{Key: "last_doc", Value: 1}})).Decode(&j)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return err
		}
		d = j.LastDoc
	}
	if d != nil {
		if err := s.materialise(ctx, d); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.unsettled[jobID]; ok && cur == d {
		delete(s.unsettled, jobID)
	}
	return nil
}

// GetDocument returns document seq of a job, nil when there is none. A
// committed document not yet materialised is found in its job's last_doc.
func (s *Driver) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	var d docDoc
	err := s.docs.FindOne(ctx, bson.D{{Key: "job_id", Value: jobID}, {Key: "seq", Value: int64(seq)}}).Decode(&d)
	if err == nil {
		return d.document(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, err
	}
	last, _, err := s.lastDoc(ctx, jobID)
	if err != nil || last == nil || last.Seq != int64(seq) {
		return nil, err
	}
	s.rollForwardDoc(ctx, last)
	return last.document(), nil
}

// ListDocuments returns up to limit documents of a job with Seq greater
// than after, in Seq order. An unknown job has no documents.
//
// The job's last_doc is read before documents: documents then hold every
// seq below it (a commit materialises the previous document first), and if
// they lack last_doc itself, no later one exists either, so it belongs at
// the end of the page.
func (s *Driver) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	last, exists, err := s.lastDoc(ctx, jobID)
	if err != nil || !exists {
		return nil, err
	}
	cur, err := s.docs.Find(ctx,
		bson.D{{Key: "job_id", Value: jobID}, {Key: "seq", Value: bson.D{{Key: "$gt", Value: int64(after)}}}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var stored []*docDoc
	if err := cur.All(ctx, &stored); err != nil {
		return nil, err
	}
	docs := make([]*intake.Document, 0, len(stored)+1)
	for _, d := range stored {
		docs = append(docs, d.document())
	}
	if last != nil && last.Seq > int64(after) && len(docs) < limit &&
		(len(docs) == 0 || int64(docs[len(docs)-1].Seq) < last.Seq) {
		s.rollForwardDoc(ctx, last)
		docs = append(docs, last.document())
	}
	return docs, nil
}

// keyChunk bounds the keys of one ReferencedBlobKeys query ($in list),
// well below the 16 MiB command size.
const keyChunk = 5000

// ReferencedBlobKeys returns which of keys some document references: a
// document in documents, or a job's last committed document.
func (s *Driver) ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool)
	for chunk := range slices.Chunk(keys, keyChunk) {
		in := bson.D{{Key: "$in", Value: chunk}}
		var stored []struct {
			BlobKey string `bson:"blob_key"`
		}
		if err := s.findAll(ctx, s.docs, bson.D{{Key: "blob_key", Value: in}},
			bson.D{{Key: "_id", Value: 0}, {Key: "blob_key", Value: 1}}, &stored); err != nil {
			return nil, err
		}
		for _, d := range stored {
			out[d.BlobKey] = true
		}
		var jobs []jobDoc
		if err := s.findAll(ctx, s.jobs, bson.D{{Key: "last_doc.blob_key", Value: in}},
			bson.D{{Key: "last_doc.blob_key", Value: 1}}, &jobs); err != nil {
			return nil, err
		}
		for _, j := range jobs {
			if j.LastDoc != nil {
				out[j.LastDoc.BlobKey] = true
			}
		}
	}
	return out, nil
}

// findAll decodes every document that filter matches, projected, into out.
func (s *Driver) findAll(ctx context.Context, c *collection, filter, projection bson.D, out any) error {
	return s.findAllOpts(ctx, c, filter, options.Find().SetProjection(projection), out)
}
