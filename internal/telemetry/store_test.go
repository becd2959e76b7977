package telemetry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// TestInstrumentStore runs every Store method through the wrapper on a
// real SQLite store and checks that each call is counted once under its
// operation and outcome, and that results and errors pass through.
func TestInstrumentStore(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	s := InstrumentStore(openStore(t, nil), reg)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	var job *intake.Job
	const owner, owner2 = "run-1", "run-2"
	doc := &intake.Document{Seq: 1, Name: "a.txt", DocumentType: "MGT-7", ContentType: "text/plain",
		SizeBytes: 3, SHA256: "x", BlobKey: "jobs/x/000001-run-1"}

	steps := []struct {
		op, outcome string
		call        func() error
	}{
		{"create_jobs", "ok", func() error {
			jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}})
			if err == nil {
				job = jobs[0]
				doc.JobID = job.ID
			}
			return err
		}},
		{"create_jobs", "invalid", func() error {
			_, err := s.CreateJobs(ctx, []*intake.Job{{}})
			return err
		}},
		{"get_job", "ok", func() error {
			j, err := s.GetJob(ctx, job.ID)
			if err == nil && j.ID != job.ID {
				t.Errorf("GetJob returned job %s, want %s", j.ID, job.ID)
			}
			return err
		}},
		{"get_job", "not_found", func() error { _, err := s.GetJob(ctx, intake.NewID()); return err }},
		{"get_job", "canceled", func() error { _, err := s.GetJob(cancelled, job.ID); return err }},
		{"list_jobs", "ok", func() error { _, err := s.ListJobs(ctx, intake.JobFilter{}); return err }},
		{"list_jobs", "invalid", func() error { _, err := s.ListJobs(ctx, intake.JobFilter{Cursor: "!"}); return err }},
		{"claim", "ok", func() error {
			_, err := s.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute})
			return err
		}},
		{"claim", "not_found", func() error {
			_, err := s.Claim(ctx, intake.ClaimParams{Owner: owner2, LeaseTTL: time.Minute})
			if !errors.Is(err, intake.ErrNoJob) {
				t.Errorf("Claim on an empty queue = %v, want ErrNoJob through the wrapper", err)
			}
			return err
		}},
		{"heartbeat", "ok", func() error { return s.Heartbeat(ctx, job.ID, owner, time.Minute) }},
		{"heartbeat", "lease_lost", func() error {
			err := s.Heartbeat(ctx, job.ID, owner2, time.Minute)
			if !errors.Is(err, intake.ErrLeaseLost) {
				t.Errorf("Heartbeat by a stranger = %v, want ErrLeaseLost through the wrapper", err)
			}
			return err
		}},
		{"plan", "ok", func() error { return s.Plan(ctx, job.ID, owner, 2, nil) }},
		{"record_document", "ok", func() error { return s.RecordDocument(ctx, owner, doc, nil) }},
		{"record_document", "conflict", func() error {
			d := *doc
			d.ID, d.Seq = "", 5
			return s.RecordDocument(ctx, owner, &d, nil)
		}},
		{"record_documents", "conflict", func() error {
			d := *doc
			d.ID, d.Seq = "", 5
			_, err := s.RecordDocuments(ctx, owner, []intake.DocumentRecord{{Document: &d}})
			return err
		}},
		{"get_document", "ok", func() error { _, err := s.GetDocument(ctx, job.ID, 1); return err }},
		{"get_document", "not_found", func() error { _, err := s.GetDocument(ctx, job.ID, 2); return err }},
		{"list_documents", "ok", func() error {
			docs, err := s.ListDocuments(ctx, job.ID, 0, 10)
			if err == nil && len(docs) != 1 {
				t.Errorf("ListDocuments returned %d documents, want 1", len(docs))
			}
			return err
		}},
		{"referenced_blob_keys", "ok", func() error {
			keys, err := s.ReferencedBlobKeys(ctx, []string{doc.BlobKey, "jobs/x/other"})
			if err == nil && (!keys[doc.BlobKey] || keys["jobs/x/other"]) {
				t.Errorf("ReferencedBlobKeys = %v", keys)
			}
			return err
		}},
		{"finish_run", "ok", func() error { return s.FinishRun(ctx, job.ID, owner, false) }},
		{"fail", "lease_lost", func() error { return s.Fail(ctx, job.ID, owner, "late") }},
		{"claim", "ok", func() error {
			_, err := s.Claim(ctx, intake.ClaimParams{Owner: owner2, LeaseTTL: time.Minute, JobID: job.ID})
			return err
		}},
		{"reschedule", "ok", func() error {
			return s.Reschedule(ctx, job.ID, owner2, time.Now().Add(time.Hour), "transient", true)
		}},
		{"maintain", "ok", func() error { _, err := s.Maintain(ctx, 5); return err }},
		{"stats", "ok", func() error {
			st, err := s.Stats(ctx)
			if err == nil && (st.Jobs[intake.StatusScheduled] != 1 || st.Documents != 1) {
				t.Errorf("Stats = %+v, want 1 scheduled job and 1 document", st)
			}
			return err
		}},
		{"cancel", "ok", func() error { _, err := s.Cancel(ctx, job.ID); return err }},
		{"cancel", "conflict", func() error { _, err := s.Cancel(ctx, job.ID); return err }},
		{"ping", "ok", func() error { return s.Ping(ctx) }},
		{"close", "ok", s.Close},
		{"ping", "error", func() error { return s.Ping(ctx) }},
	}
	for i, st := range steps {
		labels := map[string]string{"operation": st.op, "outcome": st.outcome}
		before, _ := value(t, reg, "intake_store_operations_total", labels)
		hist, _ := value(t, reg, "intake_store_operation_duration_seconds", map[string]string{"operation": st.op})
		err := st.call()
		if got := Outcome(err); got != st.outcome {
			t.Fatalf("step %d %s: error %v is %q, want %q", i, st.op, err, got, st.outcome)
		}
		if after, _ := value(t, reg, "intake_store_operations_total", labels); after != before+1 {
			t.Errorf("step %d: intake_store_operations_total%v went from %v to %v, want +1", i, labels, before, after)
		}
		if n, _ := value(t, reg, "intake_store_operation_duration_seconds", map[string]string{"operation": st.op}); n != hist+1 {
			t.Errorf("step %d: %s duration observations went from %v to %v, want +1", i, st.op, hist, n)
		}
	}
	// Every operation has its ok and error series from the start.
	for _, op := range storeOps {
		if _, ok := value(t, reg, "intake_store_operations_total", map[string]string{"operation": op, "outcome": "error"}); !ok {
			t.Errorf("no error series for %s", op)
		}
	}
	lint(t, reg)
}

// TestInstrumentStoreSharedRegistry wraps two stores with one registry:
// the second wrapper reuses the first's metrics instead of panicking.
func TestInstrumentStoreSharedRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := InstrumentStore(openStore(t, nil), reg)
	b := InstrumentStore(openStore(t, nil), reg)
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, reg, "intake_store_operations_total", map[string]string{"operation": "ping", "outcome": "ok"}); v != 2 {
		t.Errorf("ping ok = %v, want 2 (shared)", v)
	}
	// A nil registerer is allowed.
	if err := InstrumentStore(openStore(t, nil), nil).Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestInstrumentStoreBatchClaims checks that the wrapper claims in batches
// exactly when the store it wraps does, counting each batch as claim_many.
func TestInstrumentStoreBatchClaims(t *testing.T) {
	t.Parallel()
	onlyStore := struct{ intake.Store }{openStore(t, nil)} // hides ClaimMany
	if _, ok := InstrumentStore(onlyStore, nil).(intake.BatchClaimer); ok {
		t.Error("the wrapper of a store without ClaimMany claims in batches")
	}
	reg := prometheus.NewPedanticRegistry()
	s := InstrumentStore(openStore(t, nil), reg)
	bc, ok := s.(intake.BatchClaimer)
	if !ok {
		t.Fatal("the wrapper of a store with ClaimMany does not claim in batches")
	}
	ctx := context.Background()
	if _, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}, {SourceType: "filings"}}); err != nil {
		t.Fatal(err)
	}
	p := intake.ClaimParams{Owner: "batch-1", LeaseTTL: time.Minute}
	jobs, err := bc.ClaimMany(ctx, p, 3)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("ClaimMany(3) of 2 pending jobs = %d jobs, %v", len(jobs), err)
	}
	p.Owner = "batch-2"
	if _, err := bc.ClaimMany(ctx, p, 3); !errors.Is(err, intake.ErrNoJob) {
		t.Fatalf("ClaimMany with nothing pending = %v, want ErrNoJob", err)
	}
	for outcome, want := range map[string]float64{"ok": 1, "not_found": 1} {
		labels := map[string]string{"operation": "claim_many", "outcome": outcome}
		if got, _ := value(t, reg, "intake_store_operations_total", labels); got != want {
			t.Errorf("intake_store_operations_total%v = %v, want %v", labels, got, want)
		}
	}
	lint(t, reg)
}

// TestInstrumentStoreBatchFinishes checks that the wrapper finishes in
// batches exactly when the store it wraps does, whether or not it claims in
// batches too, counting each call as finish_runs: ok, or lease_lost when a
// run's lease was gone and no run failed otherwise.
func TestInstrumentStoreBatchFinishes(t *testing.T) {
	t.Parallel()
	onlyStore := struct{ intake.Store }{openStore(t, nil)} // hides both
	if _, ok := InstrumentStore(onlyStore, nil).(intake.BatchFinisher); ok {
		t.Error("the wrapper of a store without FinishRuns finishes in batches")
	}
	finishOnly := struct {
		intake.Store
		intake.BatchFinisher
	}{onlyStore, openStore(t, nil)}
	w := InstrumentStore(finishOnly, nil)
	if _, ok := w.(intake.BatchClaimer); ok {
		t.Error("the wrapper of a store without ClaimMany claims in batches")
	}
	if _, ok := w.(intake.BatchFinisher); !ok {
		t.Error("the wrapper of a store with FinishRuns only does not finish in batches")
	}

	reg := prometheus.NewPedanticRegistry()
	s := InstrumentStore(openStore(t, nil), reg)
	bf, ok := s.(intake.BatchFinisher)
	if !ok {
		t.Fatal("the wrapper of a store with FinishRuns does not finish in batches")
	}
	if _, ok := s.(intake.BatchClaimer); !ok {
		t.Fatal("the wrapper of a store with both does not claim in batches")
	}
	ctx := context.Background()
	if _, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}, {SourceType: "filings"}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.(intake.BatchClaimer).ClaimMany(ctx, intake.ClaimParams{Owner: "b1", LeaseTTL: time.Minute}, 2)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("ClaimMany(2) = %d jobs, %v", len(jobs), err)
	}
	if errs := bf.FinishRuns(ctx, []intake.FinishParams{{JobID: jobs[0].ID, Owner: "b1", Done: true}}); errs[0] != nil {
		t.Fatalf("FinishRuns: %v", errs[0])
	}
	errs := bf.FinishRuns(ctx, []intake.FinishParams{
		{JobID: jobs[0].ID, Owner: "b1", Done: true}, {JobID: jobs[1].ID, Owner: "b1", Done: true},
	})
	if !errors.Is(errs[0], intake.ErrLeaseLost) || errs[1] != nil {
		t.Fatalf("FinishRuns of a finished and a held run = %v, want lease lost and nil", errs)
	}
	for outcome, want := range map[string]float64{"ok": 1, "lease_lost": 1} {
		labels := map[string]string{"operation": "finish_runs", "outcome": outcome}
		if got, _ := value(t, reg, "intake_store_operations_total", labels); got != want {
			t.Errorf("intake_store_operations_total%v = %v, want %v", labels, got, want)
		}
	}
	lint(t, reg)
}
