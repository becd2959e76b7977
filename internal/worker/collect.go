package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/intake-dev/intake"
)

// safeCollect is collect with a panic (in a source, say) turned into the
// run's error, logged with the job id and counted: the run fails like any
// failed attempt, and the job fails once its attempts are used up.
func (w *Worker) safeCollect(stop, ctx context.Context, r *run) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recovered(ctx, w.logger, w.metrics.panics, panicRun, v,
				"job_id", r.job.ID, "source_type", r.job.SourceType, "seq", r.collected+1)
		}
	}()
	return w.collect(stop, ctx, r)
}

// collect validates and plans the job and collects its next batch. It
// returns nil when the batch ended normally (r.done and r.drained say how).
func (w *Worker) collect(stop, ctx context.Context, r *run) error {
	src, err := w.sources.Lookup(r.job.SourceType)
	if err != nil {
		return fmt.Errorf("look up source: %w", err)
	}
	r.source = src
	if err := src.Validate(ctx, r.job.Config); err != nil {
		return fmt.Errorf("validate config: %w", err)
	}
	if !r.job.Planned {
		total, checkpoint, err := src.Plan(ctx, r.job.Config)
		if err != nil {
			w.countDocError(ctx, r, err, kindSource)
			return fmt.Errorf("plan job: %w", err)
		}
		if total < 0 {
			total = intake.TotalUnknown
		}
		if w.finisher != nil && total != intake.TotalUnknown && total <= r.collected {
			// Nothing to collect (the batch is 0): the finish records
			// the plan in the same write (intake.FinishParams.Plan).
			r.plan = &intake.JobPlan{Total: total, Checkpoint: checkpoint}
		} else if err := w.store.Plan(ctx, r.job.ID, r.owner, total, checkpoint); err != nil {
			w.countDocError(ctx, r, err, kindStore)
			return fmt.Errorf("record plan: %w", err)
		}
		r.job.Planned, r.job.Total, r.checkpoint = true, total, checkpoint
	}
	r.batch = w.batchSize(r)
	w.metrics.batchSize.WithLabelValues(r.label).Observe(float64(r.batch))
	// The run record keeps the batch: FinishRun tells a drained run from
	// a finished batch by it. An empty batch (nothing left to collect) is
	// what the record holds already, so it costs no round trip.
	if r.batch > 0 {
		if err := w.store.StartBatch(ctx, r.job.ID, r.owner, r.batch); err != nil {
			w.countDocError(ctx, r, err, kindStore)
			return fmt.Errorf("record batch: %w", err)
		}
	}
	for range r.batch {
		select {
		case <-stop.Done(): // the worker is stopping: end the batch here
			r.drained = true
			return nil
		default:
		}
		exhausted, err := w.collectDocument(ctx, r)
		if err != nil {
			return err
		}
		if exhausted {
			r.done = true
			return nil
		}
	}
	r.done = r.job.Total != intake.TotalUnknown && r.collected >= r.job.Total
	if r.job.Total == intake.TotalUnknown {
		// A source's bound is the most documents it can have: reaching it
		// completes the job now rather than in a run that finds nothing.
		if b, ok := r.source.(intake.Bounded); ok {
			if bound := b.MaxDocuments(r.job.Config); bound > 0 && r.collected >= bound {
				r.done = true
			}
		}
	}
	return nil
}

// collectDocument produces, stores and records document r.collected+1.
// The blob is recorded only after Put succeeded, and deleted again (best
// effort) when recording fails, so a recorded document always has its blob.
// A document of a job with a previous job is compared with it (see
// storeCompared) and may reference the previous document's blob instead.
// It reports exhausted when the source has no more documents.
func (w *Worker) collectDocument(ctx context.Context, r *run) (exhausted bool, err error) {
	seq := r.collected + 1
	item, err := r.source.Next(ctx, r.job.Config, seq, r.checkpoint)
	if errors.Is(err, intake.ErrExhausted) {
		return true, nil
	}
	if err != nil {
		w.countDocError(ctx, r, err, kindSource)
		return false, fmt.Errorf("collect document %d: %w", seq, err)
	}
	if item.Body == nil {
		w.countDocError(ctx, r, nil, kindPermanent)
		return false, intake.Permanent(fmt.Errorf("collect document %d: source returned no body", seq))
	}
	defer item.Body.Close()
	// Stores keep valid text only (intake.ValidText), and sources pass on
	// what servers and file systems say: bad bytes become U+FFFD here,
	// the same on every store.
	contentType := intake.SanitizeText(item.ContentType)
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	doc := &intake.Document{
		JobID:        r.job.ID,
		Seq:          seq,
		Name:         intake.SanitizeText(item.Name),
		DocumentType: intake.SanitizeText(item.DocumentType),
		Identity:     intake.SanitizeText(item.Identity),
		CollectedAt:  w.cfg.Clock().UTC(),
	}
	key := intake.DocumentBlobKey(r.job.ID, seq, r.owner)
	var written bool
	if r.job.PreviousJobID != "" && doc.Identity != "" {
		written, err = w.storeCompared(ctx, r, doc, key, item.Body, contentType)
	} else {
		written, err = true, w.storeNew(ctx, r, doc, key, item.Body, contentType)
	}
	if err != nil {
		return false, err
	}
	if err := w.store.RecordDocument(ctx, r.owner, doc, item.Checkpoint); err != nil {
		w.countDocError(ctx, r, err, kindStore)
		if written {
			w.discardBlob(ctx, key)
		}
		return false, err // the store's error names the job and document
	}
	r.collected, r.checkpoint = seq, item.Checkpoint
	w.metrics.documents.WithLabelValues(r.label).Inc()
	if written {
		w.metrics.bytes.WithLabelValues(r.label).Add(float64(doc.SizeBytes))
	}
	if doc.Change != "" {
		w.metrics.changes.WithLabelValues(string(doc.Change)).Inc()
	}
	return false, nil
}

// storeNew streams body to a new blob at key and sets doc's blob fields
// from what was stored.
func (w *Worker) storeNew(ctx context.Context, r *run, doc *intake.Document, key string, body io.Reader, contentType string) error {
	info, err := w.blobs.Put(ctx, key, body, contentType)
	if err != nil {
		w.countDocError(ctx, r, err, kindBlob)
		// A failed Put may still have written (a timeout after commit, a
		// cancellation after the write); the key is this run's alone.
		w.discardBlob(ctx, key)
		return fmt.Errorf("store document %d: %w", doc.Seq, err)
	}
	doc.BlobKey, doc.ContentType, doc.SizeBytes, doc.SHA256 = key, info.ContentType, info.Size, info.SHA256
	return nil
}

// compareBuffer is the most of a body that storeCompared holds in memory
// to hash it before deciding whether to store it.
const compareBuffer = 1 << 20

// storeCompared stores the body of a document of a job with a previous
// job and sets doc.Change by comparing it with the previous job's document
// of the same identity: new when there is none, unchanged when its SHA-256
// is the same, changed otherwise. An unchanged document references the
// previous document's blob: a body of up to compareBuffer bytes is hashed
// before anything is stored, a larger one is streamed to a new blob at key
// (hashed by the blob store on the way) that is deleted again when it turns
// out unchanged. It reports whether doc references a blob written at key.
func (w *Worker) storeCompared(ctx context.Context, r *run, doc *intake.Document, key string, body io.Reader, contentType string) (bool, error) {
	prev, err := w.store.FindDocument(ctx, r.job.PreviousJobID, doc.Identity)
	switch {
	case intake.ErrorCode(err) == intake.ENOTFOUND:
		prev = nil
	case err != nil:
		w.countDocError(ctx, r, err, kindStore)
		return false, fmt.Errorf("find document %q of previous job %s: %w", doc.Identity, r.job.PreviousJobID, err)
	}
	h := sha256.New()
	head, err := io.ReadAll(io.TeeReader(io.LimitReader(body, compareBuffer+1), h))
	if err != nil {
		w.countDocError(ctx, r, err, kindSource)
		return false, fmt.Errorf("read document %d: %w", doc.Seq, err)
	}
	doc.Change = intake.ChangeNew
	if prev != nil {
		doc.Change = intake.ChangeChanged
	}
	if len(head) <= compareBuffer {
		if prev != nil && hex.EncodeToString(h.Sum(nil)) == prev.SHA256 {
			referencePrevious(doc, prev)
			return false, nil
		}
		return true, w.storeNew(ctx, r, doc, key, bytes.NewReader(head), contentType)
	}
	if err := w.storeNew(ctx, r, doc, key, io.MultiReader(bytes.NewReader(head), body), contentType); err != nil {
		return false, err
	}
	if prev == nil || doc.SHA256 != prev.SHA256 {
		return true, nil
	}
	// Nothing references the new blob yet: should the delete fail, the
	// orphan sweep removes it.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := w.blobs.Delete(dctx, key); err != nil {
		w.logger.Warn("delete the blob of an unchanged document; the orphan sweep will retry", "key", key, "err", err)
	}
	referencePrevious(doc, prev)
	return false, nil
}

// referencePrevious makes doc an unchanged copy of prev: the same blob,
// size, hash and content type.
func referencePrevious(doc, prev *intake.Document) {
	doc.BlobKey, doc.SizeBytes, doc.SHA256, doc.ContentType = prev.BlobKey, prev.SizeBytes, prev.SHA256, prev.ContentType
	doc.Change = intake.ChangeUnchanged
}

// discardBlob deletes a blob whose document was not recorded, unless the
// store says some document references it after all (a record that
// committed but reported an error). Failures are left to the orphan sweep.
func (w *Worker) discardBlob(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	refs, err := w.store.ReferencedBlobKeys(ctx, []string{key})
	if err == nil && !refs[key] {
		err = w.blobs.Delete(ctx, key)
	}
	if err != nil {
		w.logger.Warn("discard unrecorded blob; the orphan sweep will retry", "key", key, "err", err)
	}
}
