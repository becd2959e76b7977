package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// storeBuckets spans an in-process SQLite call (well under a millisecond)
// to a slow network database.
var storeBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// storeOps are the operation label values, one per Store method.
var storeOps = []string{
	"create_jobs", "get_job", "list_jobs", "cancel", "claim", "heartbeat", "plan",
	"record_document", "record_documents", "finish_run", "reschedule", "fail", "maintain", "stats",
	"get_document", "list_documents", "referenced_blob_keys", "ping", "close",
	"start_batch", "list_runs", "run_stats", "claim_many", "finish_runs",
	"create_schedule", "get_schedule", "list_schedules", "update_schedule", "delete_schedule", "due_schedules", "schedule_jobs", "advance_schedule", "schedule_health", "find_document", "change_counts", "list_removed", "claim_notifications", "settle_notification", "redeliver", "record_delivery", "list_deliveries",
}

// InstrumentStore returns s with every call counted in
// intake_store_operations_total{operation,outcome} and timed in
// intake_store_operation_duration_seconds{operation}; operation is the
// method's name in snake_case (create_jobs, claim, record_document, …) and
// outcome is Outcome's classification of the error. Results and errors pass
// through unchanged.
//
// The wrapper implements intake.Store, intake.BatchClaimer when s does
// (operation claim_many) and intake.BatchFinisher when s does (operation
// finish_runs, one observation per call, failed when any run of it failed
// for another reason than a lost lease), not intake.Migrator: migrate the
// store you opened, then wrap it. Wrapping several stores with one
// registry shares the metrics; a nil reg registers nothing.
func InstrumentStore(s intake.Store, reg prometheus.Registerer) intake.Store {
	st := &store{next: s, m: newOperations(reg, "store", "job store", storeBuckets, storeOps)}
	bc, claims := s.(intake.BatchClaimer)
	bf, finishes := s.(intake.BatchFinisher)
	switch {
	case claims && finishes:
		return &batchStore{claimStore: &claimStore{store: st, claimer: bc}, finisher: bf}
	case claims:
		return &claimStore{store: st, claimer: bc}
	case finishes:
		return &finishStore{store: st, finisher: bf}
	}
	return st
}

type store struct {
	next intake.Store
	m    *operations
}

// claimStore is the wrapper of a store that claims in batches.
type claimStore struct {
	*store
	claimer intake.BatchClaimer
}

func (s *claimStore) ClaimMany(ctx context.Context, p intake.ClaimParams, n int) (_ []*intake.Job, err error) {
	defer s.m.observe("claim_many", time.Now(), &err)
	return s.claimer.ClaimMany(ctx, p, n)
}

// finishStore is the wrapper of a store that finishes runs in batches.
type finishStore struct {
	*store
	finisher intake.BatchFinisher
}

func (s *finishStore) FinishRuns(ctx context.Context, runs []intake.FinishParams) []error {
	return s.finishRuns(ctx, s.finisher, runs)
}

// batchStore is the wrapper of a store that claims and finishes in
// batches.
type batchStore struct {
	*claimStore
	finisher intake.BatchFinisher
}

func (s *batchStore) FinishRuns(ctx context.Context, runs []intake.FinishParams) []error {
	return s.finishRuns(ctx, s.finisher, runs)
}

// finishRuns observes one FinishRuns call: its outcome is that of the
// first run that failed other than by a lost lease (a lost lease is the
// caller's news, not the store's failure), else that of the first lost
// lease, else ok.
func (s *store) finishRuns(ctx context.Context, f intake.BatchFinisher, runs []intake.FinishParams) []error {
	start := time.Now()
	errs := f.FinishRuns(ctx, runs)
	var err error
	for _, e := range errs {
		if e != nil && (err == nil || intake.ErrorCode(err) == intake.ELEASELOST) {
			err = e
		}
	}
	s.m.observe("finish_runs", start, &err)
	return errs
}

func (s *store) CreateJobs(ctx context.Context, jobs []*intake.Job) (_ []*intake.Job, err error) {
	defer s.m.observe("create_jobs", time.Now(), &err)
	return s.next.CreateJobs(ctx, jobs)
}

func (s *store) GetJob(ctx context.Context, id string) (_ *intake.Job, err error) {
	defer s.m.observe("get_job", time.Now(), &err)
	return s.next.GetJob(ctx, id)
}

func (s *store) ListJobs(ctx context.Context, f intake.JobFilter) (_ *intake.JobPage, err error) {
	defer s.m.observe("list_jobs", time.Now(), &err)
	return s.next.ListJobs(ctx, f)
}

func (s *store) Cancel(ctx context.Context, id string) (_ *intake.Job, err error) {
	defer s.m.observe("cancel", time.Now(), &err)
	return s.next.Cancel(ctx, id)
}

func (s *store) Claim(ctx context.Context, p intake.ClaimParams) (_ *intake.Job, err error) {
	defer s.m.observe("claim", time.Now(), &err)
	return s.next.Claim(ctx, p)
}

func (s *store) Heartbeat(ctx context.Context, jobID, owner string, ttl time.Duration) (err error) {
	defer s.m.observe("heartbeat", time.Now(), &err)
	return s.next.Heartbeat(ctx, jobID, owner, ttl)
}

func (s *store) Plan(ctx context.Context, jobID, owner string, total int, checkpoint []byte) (err error) {
	defer s.m.observe("plan", time.Now(), &err)
	return s.next.Plan(ctx, jobID, owner, total, checkpoint)
}

func (s *store) RecordDocument(ctx context.Context, owner string, doc *intake.Document, checkpoint []byte) (err error) {
	defer s.m.observe("record_document", time.Now(), &err)
	return s.next.RecordDocument(ctx, owner, doc, checkpoint)
}

func (s *store) RecordDocuments(ctx context.Context, owner string, recs []intake.DocumentRecord) (_ int, err error) {
	defer s.m.observe("record_documents", time.Now(), &err)
	return s.next.RecordDocuments(ctx, owner, recs)
}

func (s *store) FinishRun(ctx context.Context, jobID, owner string, done bool) (err error) {
	defer s.m.observe("finish_run", time.Now(), &err)
	return s.next.FinishRun(ctx, jobID, owner, done)
}

func (s *store) StartBatch(ctx context.Context, jobID, owner string, batch int) (err error) {
	defer s.m.observe("start_batch", time.Now(), &err)
	return s.next.StartBatch(ctx, jobID, owner, batch)
}

func (s *store) ListRuns(ctx context.Context, jobID string, after, limit int) (_ []*intake.Run, err error) {
	defer s.m.observe("list_runs", time.Now(), &err)
	return s.next.ListRuns(ctx, jobID, after, limit)
}

func (s *store) RunStats(ctx context.Context, p intake.RunStatsParams) (_ *intake.RunStats, err error) {
	defer s.m.observe("run_stats", time.Now(), &err)
	return s.next.RunStats(ctx, p)
}

func (s *store) Reschedule(ctx context.Context, jobID, owner string, at time.Time, lastErr string, countAttempt bool) (err error) {
	defer s.m.observe("reschedule", time.Now(), &err)
	return s.next.Reschedule(ctx, jobID, owner, at, lastErr, countAttempt)
}

func (s *store) Fail(ctx context.Context, jobID, owner, lastErr string) (err error) {
	defer s.m.observe("fail", time.Now(), &err)
	return s.next.Fail(ctx, jobID, owner, lastErr)
}

func (s *store) Maintain(ctx context.Context, maxAttempts int) (_ *intake.MaintainResult, err error) {
	defer s.m.observe("maintain", time.Now(), &err)
	return s.next.Maintain(ctx, maxAttempts)
}

func (s *store) Stats(ctx context.Context) (_ *intake.Stats, err error) {
	defer s.m.observe("stats", time.Now(), &err)
	return s.next.Stats(ctx)
}

func (s *store) GetDocument(ctx context.Context, jobID string, seq int) (_ *intake.Document, err error) {
	defer s.m.observe("get_document", time.Now(), &err)
	return s.next.GetDocument(ctx, jobID, seq)
}

func (s *store) ListDocuments(ctx context.Context, jobID string, after, limit int) (_ []*intake.Document, err error) {
	defer s.m.observe("list_documents", time.Now(), &err)
	return s.next.ListDocuments(ctx, jobID, after, limit)
}

func (s *store) ReferencedBlobKeys(ctx context.Context, keys []string) (_ map[string]bool, err error) {
	defer s.m.observe("referenced_blob_keys", time.Now(), &err)
	return s.next.ReferencedBlobKeys(ctx, keys)
}

func (s *store) Ping(ctx context.Context) (err error) {
	defer s.m.observe("ping", time.Now(), &err)
	return s.next.Ping(ctx)
}

func (s *store) Close() (err error) {
	defer s.m.observe("close", time.Now(), &err)
	return s.next.Close()
}
