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

// A migration brings the database from version-1 to version. MongoDB has
// no schema to alter, so migrations create indexes and rewrite documents.
//
// The rule is the SQL stores': expand, then contract. Release N's schema
// must keep working with release N-1's binary, which runs against it
// during a rolling upgrade or after a rollback:
//
//  1. Expand (release N): add indexes, add fields that old binaries ignore,
//     and write both the old and the new shape. Never rename, retype or
//     remove a field an old binary reads or writes, and never add a unique
//     index that old binaries' writes could violate.
//  2. Migrate data in the new binary or a later migration, idempotently.
//  3. Contract (release N+1 or later): drop old fields and indexes.
//
// Every migration must be idempotent: one that crashed half-way runs again.
// Migrate serialises migrators with a lock document, and records the
// version reached in the schema document.
type migration struct {
	version int64
	name    string
	apply   func(ctx context.Context, db *mongo.Database) error
}

// migrations lists every migration in version order. Never edit a released
// one; add the next.
var migrations = []migration{
	{1, "jobs and documents indexes", createIndexes},
	{2, "schedules, change detection and outbox indexes", createMonitorIndexes},
}

// jobIndexes returns the jobs collection's indexes besides _id. (New
// values each time: the driver writes to the options it is given.)
func jobIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		// Claim: the oldest pending job by available_at, then _id. It also
		// finds due scheduled jobs and the oldest pending one for Stats.
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "available_at", Value: 1}, {Key: "_id", Value: 1}},
			Options: options.Index().SetName("jobs_claim")},
		// Listing one status newest first.
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "_id", Value: -1}},
			Options: options.Index().SetName("jobs_status_id")},
		// Maintenance: expired leases.
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "lease_expires_at", Value: 1}},
			Options: options.Index().SetName("jobs_lease_expiry")},
		// Idempotency keys, unique per tenant; idem is present on every job.
		{Keys: bson.D{{Key: "idem", Value: 1}},
			Options: options.Index().SetName("jobs_idempotency").SetUnique(true)},
		// The orphan sweep: blobs of committed documents not yet materialised.
		{Keys: bson.D{{Key: "last_doc.blob_key", Value: 1}},
			Options: options.Index().SetName("jobs_last_doc_blob_key")},
		// Staged batches, found by their leader.
		{Keys: bson.D{{Key: "batch", Value: 1}},
			Options: options.Index().SetName("jobs_batch")},
	}
}

// documentIndexes returns the documents collection's indexes besides _id.
func documentIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		// One document per sequence number of a job; pages in seq order.
		{Keys: bson.D{{Key: "job_id", Value: 1}, {Key: "seq", Value: 1}},
			Options: options.Index().SetName("documents_job_seq").SetUnique(true)},
		// The orphan sweep asks which blob keys are referenced.
		{Keys: bson.D{{Key: "blob_key", Value: 1}},
			Options: options.Index().SetName("documents_blob_key")},
	}
}

// createIndexes is migration 1. Creating an index that exists with the same
// options is a no-op.
func createIndexes(ctx context.Context, db *mongo.Database) error {
	if _, err := db.Collection(jobsCollection).Indexes().CreateMany(ctx, jobIndexes()); err != nil {
		return fmt.Errorf("create jobs indexes: %w", err)
	}
	if _, err := db.Collection(documentsCollection).Indexes().CreateMany(ctx, documentIndexes()); err != nil {
		return fmt.Errorf("create documents indexes: %w", err)
	}
	return nil
}

// monitorIndexes returns the indexes of migration 2 by collection: those
// of schedules, change detection, the outbox and the delivery log. Every
// field they cover is new, so release 1's binaries never write one.
func monitorIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		schedulesCollection: {
			// DueSchedules: the schedules not paused due by a time, earliest
			// first.
			{Keys: bson.D{{Key: "paused", Value: 1}, {Key: "next_fire_at", Value: 1}, {Key: "_id", Value: 1}},
				Options: options.Index().SetName("schedules_due")},
		},
		jobsCollection: {
			// ScheduleJobs and ScheduleHealth: a schedule's jobs by status,
			// the latest completion first.
			{Keys: bson.D{{Key: "schedule_id", Value: 1}, {Key: "status", Value: 1}, {Key: "completed_at", Value: -1}},
				Options: options.Index().SetName("jobs_schedule")},
			// ClaimNotifications: only the few jobs that owe a notification
			// have the field, so a sparse index holds only them. (FerretDB
			// 1.x accepts sparse and builds a plain index.)
			{Keys: bson.D{{Key: "notify_due_at", Value: 1}},
				Options: options.Index().SetName("jobs_notify_due").SetSparse(true)},
		},
		documentsCollection: {
			// FindDocument and the removed scan: a job's documents by
			// identity, the highest seq last.
			{Keys: bson.D{{Key: "job_id", Value: 1}, {Key: "identity", Value: 1}, {Key: "seq", Value: 1}},
				Options: options.Index().SetName("documents_job_identity")},
		},
		deliveriesCollection: {
			// ListDeliveries: a job's log in ID (time) order.
			{Keys: bson.D{{Key: "job_id", Value: 1}, {Key: "_id", Value: 1}},
				Options: options.Index().SetName("deliveries_job")},
		},
	}
}

// createMonitorIndexes is migration 2. It creates the schedules and
// deliveries collections with their first index.
func createMonitorIndexes(ctx context.Context, db *mongo.Database) error {
	for _, name := range []string{schedulesCollection, jobsCollection, documentsCollection, deliveriesCollection} {
		if _, err := db.Collection(name).Indexes().CreateMany(ctx, monitorIndexes()[name]); err != nil {
			return fmt.Errorf("create %s indexes: %w", name, err)
		}
	}
	return nil
}

// The documents of the schema collection.
const (
	schemaID = "schema"       // {version, updated_at}
	lockID   = "migrate_lock" // {owner, expires_at}
)

// migrateLockTTL is how long a migrator holds the lock; one that crashed
// stops blocking others after it.
const migrateLockTTL = 5 * time.Minute

// Migrate applies the migrations the database has not had yet. Concurrent
// calls, from this process or other replicas, take turns on a lock
// document, so each migration runs once.
func (s *Driver) Migrate(ctx context.Context) (err error) {
	owner := intake.NewID()
	if err := s.lock(ctx, owner); err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_, uerr := s.schema.DeleteOne(uctx, bson.D{{Key: "_id", Value: lockID}, {Key: "owner", Value: owner}})
		if uerr != nil {
			err = errors.Join(err, fmt.Errorf("release migration lock: %w", uerr))
		}
	}()
	current, want, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		start := time.Now()
		if err := m.apply(ctx, s.db); err != nil {
			return fmt.Errorf("version %d (%s): %w", m.version, m.name, err)
		}
		_, err := s.schema.UpdateOne(ctx, bson.D{{Key: "_id", Value: schemaID}}, bson.D{
			{Key: "$max", Value: bson.D{{Key: "version", Value: m.version}}},
			{Key: "$set", Value: bson.D{{Key: "updated_at", Value: time.Now().UTC().Truncate(time.Millisecond)}}},
		}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("record version %d: %w", m.version, err)
		}
		s.logger.Info("applied migration", "version", m.version, "name", m.name, "duration", time.Since(start))
	}
	if current > want {
		s.logger.Warn("the database schema is newer than this binary", "current", current, "want", want)
	}
	return nil
}

// lock waits until owner holds the migration lock or ctx is done. The lock
// is a document with a fixed _id and an expiry in wall-clock time: an
// upsert that matches it only when it expired, and otherwise fails with a
// duplicate key while another holds it.
func (s *Driver) lock(ctx context.Context, owner string) error {
	for {
		now := time.Now().UTC().Truncate(time.Millisecond)
		_, err := s.schema.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: lockID}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: owner}, {Key: "expires_at", Value: now.Add(migrateLockTTL)}}}},
			options.UpdateOne().SetUpsert(true))
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("take migration lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for migration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SchemaStatus returns the version recorded in the database (0 before the
// first migration) and the newest version this binary knows. It only reads.
func (s *Driver) SchemaStatus(ctx context.Context) (current, want int64, err error) {
	want = migrations[len(migrations)-1].version
	var d struct {
		Version int64 `bson:"version"`
	}
	err = s.schema.FindOne(ctx, bson.D{{Key: "_id", Value: schemaID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, want, nil
	}
	if err != nil {
		return 0, want, err
	}
	return d.Version, want, nil
}
