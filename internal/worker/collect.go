package worker

import (
	"context"
	"errors"
	"fmt"

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
		if err := w.store.Plan(ctx, r.job.ID, r.owner, total, checkpoint); err != nil {
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
	key := intake.DocumentBlobKey(r.job.ID, seq, r.owner)
	info, err := w.blobs.Put(ctx, key, item.Body, contentType)
	if err != nil {
		w.countDocError(ctx, r, err, kindBlob)
		// A failed Put may still have written (a timeout after commit, a
		// cancellation after the write); the key is this run's alone.
		w.discardBlob(ctx, key)
		return false, fmt.Errorf("store document %d: %w", seq, err)
	}
	doc := &intake.Document{
		JobID:        r.job.ID,
		Seq:          seq,
		Name:         intake.SanitizeText(item.Name),
		DocumentType: intake.SanitizeText(item.DocumentType),
		ContentType:  info.ContentType,
		SizeBytes:    info.Size,
		SHA256:       info.SHA256,
		BlobKey:      key,
		CollectedAt:  w.cfg.Clock().UTC(),
	}
	if err := w.store.RecordDocument(ctx, r.owner, doc, item.Checkpoint); err != nil {
		w.countDocError(ctx, r, err, kindStore)
		w.discardBlob(ctx, key)
		return false, err // the store's error names the job and document
	}
	r.collected, r.checkpoint = seq, item.Checkpoint
	w.metrics.documents.WithLabelValues(r.label).Inc()
	w.metrics.bytes.WithLabelValues(r.label).Add(float64(info.Size))
	return false, nil
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
