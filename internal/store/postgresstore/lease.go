package postgresstore

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/jackc/pgx/v5"
)

// fence is the condition every worker mutation adds: the job is processing
// under the caller's lease. Its parameters are $1, the job ID, and $2, the
// owner.
const fence = `id = $1 AND status = 'processing' AND lease_owner = $2`

// claimSet is the SET list of a claim; $1 is the owner, $2 the lease
// expiry and $3 the time of the claim.
const claimSet = `SET status = 'processing', lease_owner = $1, lease_expires_at = $2, runs = j.runs + 1,
		started_at = coalesce(j.started_at, $3), updated_at = $3`

// PendingCountQuery counts exactly the jobs a worker can claim now. It is
// static (only the maintenance loop makes a job pending; retries wait in
// scheduled), so an autoscaler can run it: the Helm chart's KEDA
// postgresql trigger uses this text, which deploy/helm's tests check.
const PendingCountQuery = "SELECT count(*) FROM jobs WHERE status = 'pending'"

// claimNext claims the oldest pending job in one statement. The CTE walks
// the partial index jobs_pending in (available_at, id) order and locks the
// first row no other transaction holds (SKIP LOCKED: concurrent claimers
// take the next job instead of waiting); the UPDATE takes the lease. The
// predicate status = 'pending' is a literal, as the partial index requires.
const claimNext = `WITH next AS (
		SELECT id FROM jobs
		WHERE status = 'pending'
		ORDER BY available_at, id
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	)
	UPDATE jobs AS j ` + claimSet + `
	FROM next WHERE j.id = next.id
	RETURNING `

// claimMany is claimNext for up to $4 jobs.
const claimMany = `WITH next AS (
		SELECT id FROM jobs
		WHERE status = 'pending'
		ORDER BY available_at, id
		LIMIT $4
		FOR UPDATE SKIP LOCKED
	)
	UPDATE jobs AS j ` + claimSet + `
	FROM next WHERE j.id = next.id
	RETURNING `

// claimByID claims one named job. It waits for a concurrent transaction
// that holds the row and then re-checks the status, so of two claims of the
// same job exactly one succeeds.
const claimByID = `UPDATE jobs AS j ` + claimSet + `
	WHERE j.id = $4 AND j.status = 'pending'
	RETURNING `

// Claim moves one pending job to processing under a new lease and opens
// its run record in a single statement.
func (s *Driver) Claim(ctx context.Context, now time.Time, p intake.ClaimParams) (*intake.Job, error) {
	args := []any{p.Owner, now.Add(p.LeaseTTL), now, p.Worker}
	q := openingRuns(claimNext+jColumns, "$4")
	if p.JobID != "" {
		q, args = openingRuns(claimByID+jColumns, "$5"), append(args[:3], p.JobID, p.Worker)
	}
	j, err := scanJob(s.pool.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// ClaimMany claims up to n pending jobs in one statement, oldest first, for
// a worker pool that would otherwise claim them one round trip at a time.
// It is this driver's own, outside intake.Store: its errors are pgx's
// (Classify gives their codes), and it validates its arguments itself.
// Every job gets a lease under p.Owner; fenced calls check the job ID and
// the owner together, so one owner for several jobs is safe. p.JobID must be
// empty. It returns ErrNoJob when no job is pending.
func (s *Driver) ClaimMany(ctx context.Context, now time.Time, p intake.ClaimParams, n int) ([]*intake.Job, error) {
	if p.Owner == "" || p.LeaseTTL <= 0 || p.JobID != "" || n < 1 || n > intake.MaxPageSize {
		return nil, intake.Errorf(intake.EINVALID,
			"claim jobs: an owner, a positive lease TTL, no job ID and 1 to %d jobs are required", intake.MaxPageSize)
	}
	worker := p.Worker
	if worker == "" {
		worker = p.Owner
	}
	jobs, err := queryJobs(ctx, s.pool, openingRuns(claimMany+jColumns, "$5"), p.Owner, now.Add(p.LeaseTTL), now, n, worker)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, intake.ErrNoJob
	}
	// RETURNING has no order; the caller expects the claim order.
	slices.SortFunc(jobs, func(a, b *intake.Job) int {
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

// fenced runs a worker mutation whose WHERE clause includes the fence
// (args start with the job ID and the owner) and reports whether it
// changed a row.
func (s *Driver) fenced(ctx context.Context, query string, args ...any) (bool, error) {
	tag, err := s.pool.Exec(ctx, query, args...)
	return tag.RowsAffected() > 0, err
}

// Heartbeat extends the lease of a processing job by ttl from now.
func (s *Driver) Heartbeat(ctx context.Context, now time.Time, jobID, owner string, ttl time.Duration) (bool, error) {
	return s.fenced(ctx, `UPDATE jobs SET lease_expires_at = $3, updated_at = $4 WHERE `+fence,
		jobID, owner, now.Add(ttl), now)
}

// Plan records the source's total and initial checkpoint.
func (s *Driver) Plan(ctx context.Context, now time.Time, jobID, owner string, total int, checkpoint []byte) (bool, error) {
	return s.fenced(ctx, `UPDATE jobs SET planned = true, total = $3, checkpoint = $4, updated_at = $5 WHERE `+fence,
		jobID, owner, total, checkpoint, now)
}

// recordDocument updates the job and inserts the document in one statement
// (so in one transaction): the INSERT selects from the fenced UPDATE, so it
// inserts nothing unless the lease is held and seq is Collected+1.
const recordDocument = `WITH job AS (
		UPDATE jobs SET collected = $3, checkpoint = $4, updated_at = $5
		WHERE ` + fence + ` AND collected = $3 - 1
		RETURNING id
	)
	INSERT INTO documents (id, job_id, seq, name, document_type, content_type, size_bytes, sha256,
		blob_key, collected_at, identity, change)
	SELECT $6::uuid, job.id, $3::integer, $7::text, $8::text, $9::text, $10::bigint, $11::text,
		$12::text, $13::timestamptz, $14::text, $15::text
	FROM job`

// RecordDocument stores a document and the checkpoint after it, and
// advances Collected, in one statement under the fence.
func (s *Driver) RecordDocument(ctx context.Context, now time.Time, owner string, doc *intake.Document, checkpoint []byte) (held bool, collected int, err error) {
	tag, err := s.pool.Exec(ctx, recordDocument, doc.JobID, owner, doc.Seq, checkpoint, now,
		doc.ID, doc.Name, doc.DocumentType, doc.ContentType, doc.SizeBytes, doc.SHA256, doc.BlobKey, doc.CollectedAt,
		doc.Identity, string(doc.Change))
	if err != nil {
		return false, 0, err
	}
	if tag.RowsAffected() == 1 {
		return true, doc.Seq - 1, nil
	}
	// Not recorded: the lease is gone, or seq is not the next one.
	err = s.pool.QueryRow(ctx, `SELECT collected FROM jobs WHERE `+fence, doc.JobID, owner).Scan(&collected)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	return err == nil, collected, err
}

// recordDocuments is recordDocument for several documents: the INSERT
// selects the documents, passed as one array per column, from the fenced
// UPDATE, which requires the first seq to be next and sets Collected to
// the last. One statement, so one transaction and one commit.
const recordDocuments = `WITH job AS (
		UPDATE jobs SET collected = $3, checkpoint = $4, updated_at = $5
		WHERE ` + fence + ` AND collected = $6
		RETURNING id
	)
	INSERT INTO documents (id, job_id, seq, name, document_type, content_type, size_bytes, sha256,
		blob_key, collected_at, identity, change)
	SELECT d.id, job.id, d.seq, d.name, d.document_type, d.content_type, d.size_bytes, d.sha256,
		d.blob_key, d.collected_at, d.identity, d.change
	FROM job, unnest($7::uuid[], $8::integer[], $9::text[], $10::text[], $11::text[], $12::bigint[],
		$13::text[], $14::text[], $15::timestamptz[], $16::text[], $17::text[])
		AS d(id, seq, name, document_type, content_type, size_bytes, sha256, blob_key, collected_at,
			identity, change)`

// RecordDocuments stores documents and the checkpoint after the last, and
// advances Collected to the last, in one statement under the fence: all of
// them or none.
func (s *Driver) RecordDocuments(ctx context.Context, now time.Time, owner string, recs []intake.DocumentRecord) (recorded int, held bool, collected int, err error) {
	n := len(recs)
	var (
		ids, names, types, contentTypes, sums, keys, identities, changes = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs  = make([]int32, n)
		sizes = make([]int64, n)
		times = make([]time.Time, n)
	)
	for i, rec := range recs {
		d := rec.Document
		ids[i], seqs[i], names[i], types[i], contentTypes[i] = d.ID, int32(d.Seq), d.Name, d.DocumentType, d.ContentType //nolint:gosec // seqs are at most intake.MaxSeq
		sizes[i], sums[i], keys[i], times[i] = d.SizeBytes, d.SHA256, d.BlobKey, d.CollectedAt
		identities[i], changes[i] = d.Identity, string(d.Change)
	}
	first, last := recs[0].Document, recs[n-1]
	tag, err := s.pool.Exec(ctx, recordDocuments, first.JobID, owner, last.Document.Seq, last.Checkpoint, now,
		first.Seq-1, ids, seqs, names, types, contentTypes, sizes, sums, keys, times, identities, changes)
	if err != nil {
		return 0, false, 0, err
	}
	if tag.RowsAffected() == int64(n) {
		return n, true, 0, nil
	}
	// Not recorded: the lease is gone, or the first seq is not the next one.
	err = s.pool.QueryRow(ctx, `SELECT collected FROM jobs WHERE `+fence, first.JobID, owner).Scan(&collected)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, 0, nil
	}
	return 0, err == nil, collected, err
}

// notifyDue returns the assignment that makes the notification of a job
// with Notify due at now (a parameter), in the update that ends the job.
func notifyDue(now string) string {
	return `notify_due_at = CASE WHEN notify IS NOT NULL THEN ` + now + ` ELSE notify_due_at END`
}

// FinishRun ends a successful run: completed when done, pending otherwise.
func (s *Driver) FinishRun(ctx context.Context, now time.Time, jobID, owner string, done bool) (bool, error) {
	q := `UPDATE jobs SET status = 'pending', available_at = $3,`
	if done {
		q = `UPDATE jobs SET status = 'completed', completed_at = $3,
			total = CASE WHEN total = -1 THEN collected ELSE total END, ` + notifyDue("$3") + `,`
	}
	q += ` attempts = 0, last_error = '', lease_owner = NULL, lease_expires_at = NULL, updated_at = $3
		WHERE ` + fence
	var outcome intake.RunOutcome // batch_done or drained, decided by closingRun
	if done {
		outcome = intake.RunCompleted
	}
	return s.fenced(ctx, closingRun(q, "$4", "''", "$3"), jobID, owner, now, string(outcome))
}

// finishRuns is FinishRun for many runs in one statement, with the plans
// of the runs that bring one. $1 to $6 are arrays with one element per run
// (job ID, owner, done, whether it brings a plan, the planned total and
// checkpoint), $7 is the time. The held CTE locks the jobs still under
// their runs' leases in ID order, so that two calls finishing the same jobs
// cannot deadlock (one waits, then finds the lease gone), and keeps their
// runs' input rows for the UPDATE; the jobs UPDATE is FinishRun's for each
// job, done or not, and the job_runs UPDATE is closingRun's. The statement returns the positions (from 1) in the arrays
// of the runs it finished.
const finishRuns = `WITH input AS (
		SELECT i.id::uuid AS id, i.owner, i.done, i.has_plan, i.total, i.checkpoint, i.n
		FROM unnest($1::text[], $2::text[], $3::boolean[], $4::boolean[], $5::integer[], $6::bytea[])
			WITH ORDINALITY AS i(id, owner, done, has_plan, total, checkpoint, n)
	), held AS MATERIALIZED (
		SELECT i.* FROM jobs AS j JOIN input AS i ON j.id = i.id
		WHERE j.status = 'processing' AND j.lease_owner = i.owner
		ORDER BY j.id
		FOR UPDATE OF j
	), j AS (
		UPDATE jobs AS j SET
			status = CASE WHEN i.done THEN 'completed' ELSE 'pending' END,
			completed_at = CASE WHEN i.done THEN $7 ELSE j.completed_at END,
			available_at = CASE WHEN i.done THEN j.available_at ELSE $7 END,
			planned = j.planned OR i.has_plan,
			checkpoint = CASE WHEN i.has_plan THEN i.checkpoint ELSE j.checkpoint END,
			total = CASE WHEN i.done AND CASE WHEN i.has_plan THEN i.total ELSE j.total END = -1 THEN j.collected
				WHEN i.has_plan THEN i.total ELSE j.total END,
			notify_due_at = CASE WHEN i.done AND j.notify IS NOT NULL THEN $7 ELSE j.notify_due_at END,
			attempts = 0, last_error = '', lease_owner = NULL, lease_expires_at = NULL, updated_at = $7
		FROM held AS i
		WHERE j.id = i.id AND j.status = 'processing' AND j.lease_owner = i.owner
		RETURNING j.id, j.collected, i.owner, i.done, i.n
	), r AS (
		UPDATE job_runs AS r SET ended_at = $7, error = '',
			collected = j.collected - r.collected_before,
			outcome = CASE WHEN j.done THEN 'completed'
				WHEN r.batch > j.collected - r.collected_before THEN 'drained' ELSE 'batch_done' END
		FROM j WHERE r.job_id = j.id AND r.lease_owner = j.owner AND r.outcome = 'running'
	) SELECT n FROM j`

// FinishRuns ends many successful runs, each fenced by its own lease, in
// one statement (see finishRuns): one commit for all of them.
func (s *Driver) FinishRuns(ctx context.Context, now time.Time, runs []intake.FinishParams) ([]bool, error) {
	var (
		ids         = make([]string, len(runs))
		owners      = make([]string, len(runs))
		done        = make([]bool, len(runs))
		hasPlan     = make([]bool, len(runs))
		totals      = make([]int32, len(runs))
		checkpoints = make([][]byte, len(runs))
	)
	for i, p := range runs {
		ids[i], owners[i], done[i] = p.JobID, p.Owner, p.Done
		if p.Plan != nil {
			hasPlan[i], totals[i], checkpoints[i] = true, int32(min(p.Plan.Total, math.MaxInt32)), p.Plan.Checkpoint //nolint:gosec // bounded
		}
	}
	rows, err := s.pool.Query(ctx, finishRuns, ids, owners, done, hasPlan, totals, checkpoints, now)
	if err != nil {
		return nil, err
	}
	finished, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	held := make([]bool, len(runs))
	for _, n := range finished {
		if n >= 1 && n <= int64(len(held)) {
			held[n-1] = true
		}
	}
	return held, nil
}

// Reschedule ends a run that should be retried at a later time.
func (s *Driver) Reschedule(ctx context.Context, now time.Time, jobID, owner string, at time.Time, lastErr string, countAttempt bool) (bool, error) {
	inc := 0
	if countAttempt {
		inc = 1
	}
	return s.fenced(ctx, closingRun(`UPDATE jobs
		SET status = 'scheduled', available_at = $3, attempts = attempts + $4, last_error = $5,
			lease_owner = NULL, lease_expires_at = NULL, updated_at = $6
		WHERE `+fence, "$7", "$5", "$6"),
		jobID, owner, at, inc, lastErr, now, string(intake.RunRescheduled))
}

// Fail ends a run for good.
func (s *Driver) Fail(ctx context.Context, now time.Time, jobID, owner, lastErr string) (bool, error) {
	return s.fenced(ctx, closingRun(`UPDATE jobs
		SET status = 'failed', last_error = $3, completed_at = $4, updated_at = $4, `+notifyDue("$4")+`,
			lease_owner = NULL, lease_expires_at = NULL
		WHERE `+fence, "$5", "$3", "$4"), jobID, owner, lastErr, now, string(intake.RunFailed))
}

// maintain promotes due scheduled jobs and expires lapsed leases, closing
// their run records, in one statement. Each CTE locks its rows FOR UPDATE SKIP LOCKED before the
// UPDATE changes them: concurrent replicas divide the jobs between them
// instead of waiting (no replica can deadlock another), and a row locked by
// a worker's fenced call right now is left for the next pass. The two
// UPDATEs change disjoint rows (scheduled and processing ones).
const maintain = `WITH due AS (
		SELECT id FROM jobs WHERE status = 'scheduled' AND available_at <= $1
		FOR UPDATE SKIP LOCKED
	), promoted AS (
		UPDATE jobs AS j SET status = 'pending', updated_at = $1
		FROM due WHERE j.id = due.id
		RETURNING j.id, j.status
	), lapsed AS (
		SELECT id, lease_owner, collected FROM jobs WHERE status = 'processing' AND lease_expires_at <= $1
		FOR UPDATE SKIP LOCKED
	), closed AS (
		UPDATE job_runs AS r SET ended_at = $1, error = $3, outcome = 'lease_expired',
			collected = lapsed.collected - r.collected_before
		FROM lapsed
		WHERE r.job_id = lapsed.id AND r.lease_owner = lapsed.lease_owner AND r.outcome = 'running'
	), expired AS (
		UPDATE jobs AS j SET
			status = CASE WHEN j.attempts + 1 >= $2 THEN 'failed' ELSE 'pending' END,
			completed_at = CASE WHEN j.attempts + 1 >= $2 THEN $1 ELSE j.completed_at END,
			available_at = CASE WHEN j.attempts + 1 >= $2 THEN j.available_at ELSE $1 END,
			notify_due_at = CASE WHEN j.attempts + 1 >= $2 AND j.notify IS NOT NULL THEN $1 ELSE j.notify_due_at END,
			attempts = j.attempts + 1, last_error = $3,
			lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
		FROM lapsed WHERE j.id = lapsed.id
		RETURNING j.id, j.status
	)
	SELECT id::text, status, true FROM promoted
	UNION ALL
	SELECT id::text, status, false FROM expired`

// Maintain promotes due scheduled jobs and expires lapsed leases. It is
// idempotent and safe to run from several replicas at once: every job
// changes once, in whichever call locked it.
func (s *Driver) Maintain(ctx context.Context, now time.Time, maxAttempts int, expiredErr string) (*intake.MaintainResult, error) {
	rows, err := s.pool.Query(ctx, maintain, now, maxAttempts, expiredErr)
	if err != nil {
		return nil, err
	}
	r := &intake.MaintainResult{}
	var (
		id       string
		status   intake.Status
		promoted bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &status, &promoted}, func() error {
		switch {
		case promoted:
			r.Promoted = append(r.Promoted, id)
		case status == intake.StatusFailed:
			r.ExpiredFailed = append(r.ExpiredFailed, id)
		default:
			r.Expired = append(r.Expired, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
