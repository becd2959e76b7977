package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/intake-dev/intake"
)

// safeCollect is collect with a panic (in a source, say) turned into the
// run's error, logged with the job id and counted: the run fails like any
// failed attempt, and the job fails once its attempts are used up. The
// documents collected before the panic are recorded.
func (w *Worker) safeCollect(stop, ctx context.Context, r *run) (err error) {
	g := newGroups()
	defer func() {
		if v := recover(); v != nil {
			err = recovered(ctx, w.logger, w.metrics.panics, panicRun, v,
				"job_id", r.job.ID, "source_type", r.job.SourceType, "seq", g.next(r))
			err = w.settle(ctx, r, g, err)
		}
	}()
	return w.collect(stop, ctx, r, g)
}

// collect validates and plans the job and collects its next batch,
// recording its documents in groups (see groups). It returns nil when the
// batch ended normally (r.done and r.drained say how).
func (w *Worker) collect(stop, ctx context.Context, r *run, g *groups) error {
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
			return w.flush(ctx, r, g)
		default:
		}
		if len(g.open.recs) == 0 {
			g.open.started = time.Now()
		}
		exhausted, err := w.collectDocument(ctx, r, g)
		if err != nil {
			return w.settle(ctx, r, g, err)
		}
		if exhausted {
			r.done = true
			return w.flush(ctx, r, g)
		}
		if len(g.open.recs) >= w.cfg.RecordBatch || time.Since(g.open.started) >= w.cfg.RecordWait {
			record := w.handOff
			if w.cfg.RecordBatch == 1 {
				record = w.flush // each document recorded before the next begins
			}
			if err := record(ctx, r, g); err != nil {
				return err
			}
		}
	}
	if err := w.flush(ctx, r, g); err != nil {
		return err
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

// group holds documents a run collected and has not recorded yet, in Seq
// order. Their blobs are written, unsynced where the blob store can sync
// many at once (intake.BlobSyncer). record makes those durable with one
// Sync and then records the group with one RecordDocuments, so a recorded
// document's blob is always durable before its record commits.
type group struct {
	recs []intake.DocumentRecord
	// written says which documents' blobs this run wrote, to sync and,
	// when not recorded, to discard; unchanged documents reference the
	// previous job's blob instead.
	written []bool
	// unsynced is set when the written blobs await Sync.
	unsynced bool
	// started is when the first document of the group began.
	started time.Time
}

// keys returns the keys of the blobs written for documents from i on.
func (g *group) keys(from int) []string {
	var keys []string
	for i := from; i < len(g.recs); i++ {
		if g.written[i] {
			keys = append(keys, g.recs[i].Document.BlobKey)
		}
	}
	return keys
}

func (g *group) reset() {
	clear(g.recs) // let the documents go
	g.recs, g.written, g.unsynced = g.recs[:0], g.written[:0], false
}

// groups are a run's groups: the open one, which collects documents, and
// the busy one, handed off and being recorded in the background while
// the run collects the next. A group is handed off when it holds
// Config.RecordBatch documents or once Config.RecordWait has passed since
// its first document began; the run waits for the busy group before it
// hands off another, so groups are recorded one at a time and in order.
// At the end of the batch, when the worker stops, and before an error
// ends the run (settle), the run waits for the busy group and records the
// open one itself. With Config.RecordBatch 1 nothing is handed off: each
// document is recorded before the next begins.
type groups struct {
	open, busy *group // busy is nil when no group is being recorded
	spare      *group // the group to open next
	done       chan recordResult
}

// recordResult is how a busy group's recording ended: its first n
// documents were recorded.
type recordResult struct {
	n   int
	err error
}

func newGroups() *groups {
	return &groups{open: &group{}, spare: &group{}, done: make(chan recordResult, 1)}
}

// next returns the Seq of the document after the groups.
func (g *groups) next(r *run) int {
	n := r.collected + len(g.open.recs) + 1
	if g.busy != nil {
		n += len(g.busy.recs)
	}
	return n
}

// checkpoint returns the source checkpoint after the groups.
func (g *groups) checkpoint(r *run) []byte {
	switch {
	case len(g.open.recs) > 0:
		return g.open.recs[len(g.open.recs)-1].Checkpoint
	case g.busy != nil && len(g.busy.recs) > 0:
		return g.busy.recs[len(g.busy.recs)-1].Checkpoint
	}
	return r.checkpoint
}

// handOff waits for the busy group and hands the open one off to be
// recorded in the background. When the busy group failed, the open one is
// given up (its blobs discarded) and the busy group's error returned.
//
// The background recording runs on a context detached from the run's, so
// that a group handed off is recorded even when the shutdown grace ends
// the run meanwhile; the fence refuses it when the lease is gone.
func (w *Worker) handOff(ctx context.Context, r *run, g *groups) error {
	if err := w.await(ctx, r, g); err != nil {
		return err
	}
	busy := g.open
	g.open, g.spare, g.busy = g.spare, nil, busy
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		var res recordResult
		defer func() {
			if v := recover(); v != nil {
				res = recordResult{err: recovered(ctx, w.logger, w.metrics.panics, panicRun, v,
					"job_id", r.job.ID, "source_type", r.job.SourceType, "seq", busy.recs[0].Document.Seq)}
			}
			g.done <- res
		}()
		res.n, res.err = w.record(rctx, r, busy)
	}()
	return nil
}

// await waits for the busy group, if any, and accounts for what it
// recorded. When it failed, it gives up the open group too (its documents
// would not follow the recorded ones) and returns the error.
func (w *Worker) await(ctx context.Context, r *run, g *groups) error {
	if g.busy == nil {
		return nil
	}
	res := <-g.done
	w.account(r, g.busy, res.n)
	g.busy.reset()
	g.spare, g.busy = g.busy, nil
	if res.err != nil {
		w.discardBlobs(ctx, g.open.keys(0))
		g.open.reset()
	}
	return res.err
}

// flush waits for the busy group and then records the open one.
func (w *Worker) flush(ctx context.Context, r *run, g *groups) error {
	if err := w.await(ctx, r, g); err != nil {
		return err
	}
	if len(g.open.recs) == 0 {
		return nil
	}
	n, err := w.record(ctx, r, g.open)
	w.account(r, g.open, n)
	g.open.reset()
	return err
}

// record makes the group's unsynced blobs durable and then records the
// group, and returns how many of its documents were recorded. A group of
// one is recorded with RecordDocument. When either step fails it counts
// the error and discards the blobs of the documents that were not
// recorded. It runs in the background for a busy group, so it leaves the
// run's state alone (see account).
func (w *Worker) record(ctx context.Context, r *run, g *group) (int, error) {
	first, last := g.recs[0].Document.Seq, g.recs[len(g.recs)-1].Document.Seq
	if syncer, ok := w.blobs.(intake.BlobSyncer); ok && g.unsynced {
		if err := syncer.Sync(ctx, g.keys(0)); err != nil {
			w.countDocError(ctx, r, err, kindBlob)
			w.discardBlobs(ctx, g.keys(0))
			return 0, fmt.Errorf("sync the blobs of documents %d to %d: %w", first, last, err)
		}
	}
	var (
		n   int
		err error
	)
	if len(g.recs) == 1 {
		if err = w.store.RecordDocument(ctx, r.owner, g.recs[0].Document, g.recs[0].Checkpoint); err == nil {
			n = 1
		}
	} else {
		n, err = w.store.RecordDocuments(ctx, r.owner, g.recs)
	}
	if err != nil {
		w.countDocError(ctx, r, err, kindStore)
		w.discardBlobs(ctx, g.keys(n))
		return n, err // the store's error names the job and documents
	}
	return n, nil
}

// account advances the run past the first n documents of g, which were
// recorded, and counts them.
func (w *Worker) account(r *run, g *group, n int) {
	for i, rec := range g.recs[:n] {
		doc := rec.Document
		r.collected, r.checkpoint = doc.Seq, rec.Checkpoint
		w.metrics.documents.WithLabelValues(r.label).Inc()
		if g.written[i] {
			w.metrics.bytes.WithLabelValues(r.label).Add(float64(doc.SizeBytes))
		}
		if doc.Change != "" {
			w.metrics.changes.WithLabelValues(string(doc.Change)).Inc()
		}
	}
}

// settle ends a run's collection with err: it waits for the busy group and
// records the open one, since its documents are complete, unless the lease
// is lost, when it discards their blobs. When the shutdown grace ended the
// run it records them on a detached context.
func (w *Worker) settle(ctx context.Context, r *run, g *groups, err error) error {
	if aerr := w.await(ctx, r, g); aerr != nil {
		return errors.Join(err, aerr)
	}
	if len(g.open.recs) == 0 {
		return err
	}
	if isLeaseLost(err) || isLeaseLost(context.Cause(ctx)) {
		w.discardBlobs(ctx, g.open.keys(0))
		g.open.reset()
		return err
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
	}
	if ferr := w.flush(ctx, r, g); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// collectDocument produces and stores the document after the groups and
// adds it to the open group. A document of a job with a previous job is
// compared with it (see storeCompared) and may reference the previous
// document's blob instead. It reports exhausted when the source has no
// more documents.
func (w *Worker) collectDocument(ctx context.Context, r *run, g *groups) (exhausted bool, err error) {
	seq := g.next(r)
	item, err := r.source.Next(ctx, r.job.Config, seq, g.checkpoint(r))
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
	put := w.putter()
	var written bool
	if r.job.PreviousJobID != "" && doc.Identity != "" {
		written, err = w.storeCompared(ctx, r, doc, key, item.Body, contentType, put)
	} else {
		written, err = true, w.storeNew(ctx, r, doc, key, item.Body, contentType, put)
	}
	if err != nil {
		return false, err
	}
	open := g.open
	open.recs = append(open.recs, intake.DocumentRecord{Document: doc, Checkpoint: item.Checkpoint})
	open.written = append(open.written, written)
	open.unsynced = open.unsynced || (written && w.cfg.RecordBatch > 1)
	return false, nil
}

// putFunc is intake.BlobStore's Put or intake.BlobSyncer's PutUnsynced.
type putFunc func(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error)

// putter returns how documents' blobs are written: unsynced when the
// worker records groups and the blob store can sync them at once, so that
// flush syncs them with one call; with Put, durable on return, otherwise.
func (w *Worker) putter() putFunc {
	if syncer, ok := w.blobs.(intake.BlobSyncer); ok && w.cfg.RecordBatch > 1 {
		return syncer.PutUnsynced
	}
	return w.blobs.Put
}

// storeNew streams body to a new blob at key with put and sets doc's blob
// fields from what was stored.
func (w *Worker) storeNew(ctx context.Context, r *run, doc *intake.Document, key string, body io.Reader, contentType string, put putFunc) error {
	info, err := put(ctx, key, body, contentType)
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
func (w *Worker) storeCompared(ctx context.Context, r *run, doc *intake.Document, key string, body io.Reader, contentType string, put putFunc) (bool, error) {
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
		return true, w.storeNew(ctx, r, doc, key, bytes.NewReader(head), contentType, put)
	}
	if err := w.storeNew(ctx, r, doc, key, io.MultiReader(bytes.NewReader(head), body), contentType, put); err != nil {
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
	w.discardBlobs(ctx, []string{key})
}

// discardBlobs is discardBlob for several blobs, with one question to the
// store.
func (w *Worker) discardBlobs(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	refs, err := w.store.ReferencedBlobKeys(ctx, keys)
	if err != nil {
		w.logger.Warn("discard unrecorded blobs; the orphan sweep will retry", "keys", keys, "err", err)
		return
	}
	for _, key := range keys {
		if refs[key] {
			continue
		}
		if err := w.blobs.Delete(ctx, key); err != nil {
			w.logger.Warn("discard unrecorded blob; the orphan sweep will retry", "key", key, "err", err)
		}
	}
}
