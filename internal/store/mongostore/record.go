package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

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
