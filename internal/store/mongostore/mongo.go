// Package mongostore is the MongoDB job store: seed 004's `jobs` and
// `documents` collections behind a driver.Driver for store.Store, with
// go.mongodb.org/mongo-driver/v2. It needs nothing beyond single-document
// atomicity: no transactions, no change streams, no $expr and no
// aggregation-pipeline updates. So it runs on any MongoDB deployment
// (Atlas included), and, within the limits described under FerretDB
// below, on FerretDB 1.x.
//
// # Schema
//
// A job is one document in `jobs` whose `_id` is the job's UUIDv7 string,
// so `_id` order is creation order. Times are BSON datetimes (UTC,
// milliseconds) from the store's clock. `status` is one of intake's statuses
// and "pending" always means claimable now, so PendingFilter is the static
// filter an autoscaler (KEDA) counts. `collected` and `bytes` count the
// job's recorded documents and their size, so Stats sums two fields instead
// of scanning `documents`. `config` keeps the request's JSON text exactly.
// Document metadata lives in `documents`, one document per (job_id, seq),
// with the document's `identity` and `change` when it has them.
// Schedules live in `schedules` and the webhook delivery log in
// `deliveries`. The schema version is a document in `intake_schema`.
//
// # Schedules, change detection and the outbox
//
// Every step that intake.Store requires to be atomic with another is one
// single-document update here. A schedule's tick fires once because its
// job's idempotency key is unique (the `idem` index) and AdvanceSchedule
// compares and sets `next_fire_at`. A job's outbox entry is its own
// `notify_due_at` field: the update that completes or fails a job with a
// `notify` sets it (its filter requires the `notify` it read to be there,
// so the entry and the status change together or not at all), and
// ClaimNotifications and SettleNotification move it with filters that
// compare it. The previous job's documents that a job did not collect
// are found a chunk at a time, by asking which of a chunk's identities the
// job has (no $lookup: FerretDB 1.x has none).
//
// # Claims and fencing
//
// Claim is one findOneAndUpdate over {status: "pending"} sorted by
// {available_at: 1, _id: 1}, served by the jobs_claim index. Every worker
// mutation is one update whose filter includes {_id, status: "processing",
// lease_owner: owner}; when it matches nothing the lease is gone, and the
// call reports that the job is no longer held.
//
// # Recording a document: the job is the commit record
//
// RecordDocument commits with one fenced update of the job that also
// requires {collected: seq-1} and sets collected = seq, the checkpoint and
// `last_doc`, the document's full metadata. That single-document update is
// the commit: a zombie whose lease was lost matches nothing and writes
// nothing, and a wrong seq under a live lease matches nothing either. The
// second step materialises `last_doc` into `documents` with an idempotent
// upsert ($setOnInsert on {job_id, seq}); a sequence number is committed
// once, so every writer of it writes the same metadata.
//
// A crash (or an error) between the two steps loses nothing: the committed
// document is still the job's `last_doc`, and every reader rolls it
// forward. GetDocument, ListDocuments and ReferencedBlobKeys treat
// `last_doc` as recorded (the first two materialise it), so the orphan
// sweep never deletes a committed document's blob. Before `last_doc` is
// overwritten by the next commit it is materialised: Claim materialises
// the claimed job's `last_doc`, and a driver that could not finish a
// materialisation retries it before the next RecordDocument of that job and
// refuses to commit until it succeeds. Hence the documents collection plus
// each job's `last_doc` always hold seq 1..collected without a gap.
// (This relies on the run that claimed a job recording its documents
// through the same Driver, as intake's worker does.)
//
// # Run records
//
// A job's run records live in the job document too: `open_run` while it is
// processing (set by the claiming update; RecordDocument's commit
// increments its `collected`), and `run_log`, the ended runs in order.
// Releasing a job reads it under the fence and then, in one update whose
// filter also requires the `collected` it read, changes the job, unsets
// `open_run` and pushes the closed record onto `run_log`; so the history
// changes in the same single-document update as the job (see runs.go).
//
// # Creating a batch atomically
//
// One job is one insert. A batch is inserted with status "staged" and a
// `batch` field holding the ID of its first job, the batch's leader.
// Staged jobs are invisible: not claimable, listed, counted or found. The
// batch commits when its leader turns from staged to pending, a
// single-document update; the other jobs follow with one updateMany. A
// failed insert deletes the batch. Maintain resolves staged jobs left by a
// crash: it rolls a batch forward when its leader committed, and aborts it
// (deleting the leader first, so that a late commit fails) when it is
// older than StagedTimeout and uncommitted. A creator that commits after
// such an abort finds no leader and reports an EUNAVAILABLE error.
//
// Idempotency keys are unique per tenant through the unique `idem` field,
// which every job has: "<len(tenant)>:<tenant>:<key>" for a job with a key
// and "job:<_id>" for one without. A plain unique index on an always-present
// field behaves the same everywhere, where a key present only when set
// would not: FerretDB 1.24 rejects partialFilterExpression, and its plain
// unique index admits many documents without the field while MongoDB's
// admits one.
//
// # Maintenance
//
// Maintain changes each job with its own findOneAndUpdate whose filter
// re-checks the condition (scheduled and due, or processing with an
// expired lease), so concurrent passes on several replicas change every job
// once, and each pass reports exactly the jobs it changed.
//
// # FerretDB
//
// FerretDB 1.x (the test server here) applies an update or findAndModify
// by reading the matching documents and replacing them by _id, without
// re-checking the filter, so two concurrent conditional updates of one
// document can both succeed. Open detects it (buildInfo reports
// ferretdbVersion) and then serialises the store's writes within the
// process, which makes them atomic among its goroutines but not among
// processes: on FerretDB 1.x run one intake process per database, and
// production on MongoDB. FerretDB also pushes down only {_id: value}
// filters to its SQLite backend, so every other query scans the
// collection.
package mongostore

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/store/driver"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// DefaultDatabase is the database of a URI without a path and a Config
// without a Database.
const DefaultDatabase = "intake"

// The collection names. jobs and documents are seed 004's.
const (
	jobsCollection       = "jobs"
	documentsCollection  = "documents"
	schemaCollection     = "intake_schema"
	schedulesCollection  = "schedules"
	deliveriesCollection = "deliveries"
)

// defaultServerSelectionTimeout bounds how long an operation waits for a
// reachable server when the URI sets no serverSelectionTimeoutMS: the
// driver's 30 s would hold API requests long after a load balancer gave up.
const defaultServerSelectionTimeout = 10 * time.Second

// StagedTimeout is how old an uncommitted staged batch must be before
// Maintain deletes it. A batch commits within one CreateJobs call, so only
// a creator that crashed (or stalled for this long) leaves one behind.
const StagedTimeout = 5 * time.Minute

// Config configures a Driver.
type Config struct {
	// URI is a MongoDB connection string: mongodb://… or mongodb+srv://…
	// (Atlas). Its password never appears in errors or logs.
	URI string
	// Database is the database to use: default the URI's path, else
	// DefaultDatabase ("intake").
	Database string
	// Logger receives migration and diagnostic logs; discarded when nil.
	Logger *slog.Logger
}

// Driver is the MongoDB job store driver.
type Driver struct {
	client *mongo.Client
	db     *mongo.Database
	jobs   *collection
	docs   *collection
	schema *collection
	scheds *collection
	dels   *collection
	// wmu serialises writes on servers without atomic updates (FerretDB
	// 1.x); see collection.
	wmu sync.Mutex

	logger *slog.Logger
	uri    string // whose secrets logs must not repeat

	// unsettled holds the jobs whose last committed document this driver
	// may not have materialised into documents (a failed or unanswered
	// write): RecordDocument materialises it before the next commit. A nil
	// value means "read it from the job".
	mu        sync.Mutex
	unsettled map[string]*docDoc

	removedChunk int // see the constant
}

var _ driver.Driver = (*Driver)(nil)

// PendingFilter returns the filter that matches exactly the claimable jobs
// in the jobs collection: {"status": "pending"}. It is static (no times),
// because only the maintenance loop makes jobs pending, so KEDA's MongoDB
// scaler can count it (its query: {"status":"pending"}).
func PendingFilter() bson.D {
	return bson.D{{Key: "status", Value: string(intake.StatusPending)}}
}

// Open connects to the server that cfg.URI names and checks that it
// answers. It does not migrate: call Migrate (intake migrate) first.
// A malformed URI is an EINVALID error and an unreachable server an
// EUNAVAILABLE one; neither includes the URI's password.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	if strings.TrimSpace(cfg.URI) == "" {
		return nil, intake.Errorf(intake.EINVALID, "mongo: URI is empty; use mongodb://HOST/DATABASE")
	}
	scheme, _, _ := strings.Cut(cfg.URI, "://")
	if scheme != "mongodb" && scheme != "mongodb+srv" {
		return nil, intake.Errorf(intake.EINVALID, "mongo: URI %s must start with mongodb:// or mongodb+srv://",
			redact.String(cfg.URI))
	}
	dbName := cfg.Database
	if dbName == "" {
		dbName = uriDatabase(cfg.URI)
	}
	if dbName == "" {
		dbName = DefaultDatabase
	}
	if err := validDatabase(dbName); err != nil {
		return nil, err
	}
	s := &Driver{logger: cfg.Logger, uri: cfg.URI, unsettled: map[string]*docDoc{}, removedChunk: removedChunk}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}

	opts := options.Client().ApplyURI(cfg.URI)
	if err := opts.Validate(); err != nil {
		// Parse errors may quote parts of the URI: keep only a redacted text.
		return nil, intake.WrapError(intake.EINVALID, errors.New(redact.Error(err, cfg.URI).Error()),
			"mongo: invalid URI %s", redact.String(cfg.URI))
	}
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(defaultServerSelectionTimeout)
	}
	if opts.AppName == nil {
		opts.SetAppName("intake")
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, driver.Wrap(redact.Error(err, cfg.URI), s.Classify, "mongo: connect")
	}
	s.client = client
	s.db = client.Database(dbName)
	ferret, err := ferretDBVersion(ctx, s.db)
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, driver.Wrap(redact.Error(err, cfg.URI), s.Classify, "mongo: connect")
	}
	var wmu *sync.Mutex
	if nonAtomicUpdates(ferret) {
		wmu = &s.wmu
		s.logger.Warn("mongo: FerretDB 1.x does not apply conditional updates atomically; this process "+
			"serialises its writes, so run one intake process per database (MongoDB has no such limit)",
			"ferretdb_version", ferret, "database", dbName)
	}
	s.jobs = &collection{Collection: s.db.Collection(jobsCollection), mu: wmu}
	s.docs = &collection{Collection: s.db.Collection(documentsCollection), mu: wmu}
	s.schema = &collection{Collection: s.db.Collection(schemaCollection), mu: wmu}
	s.scheds = &collection{Collection: s.db.Collection(schedulesCollection), mu: wmu}
	s.dels = &collection{Collection: s.db.Collection(deliveriesCollection), mu: wmu}
	return s, nil
}

// nonAtomicUpdates reports whether a server that reports FerretDB version
// v applies updates without re-checking their filter: FerretDB before 2.0
// ("" is MongoDB).
func nonAtomicUpdates(v string) bool {
	v = strings.TrimPrefix(v, "v")
	return v != "" && (strings.HasPrefix(v, "0.") || strings.HasPrefix(v, "1."))
}

// uriDatabase returns the database in a connection string's path, or "".
// It parses the URI itself because the driver's parser resolves
// mongodb+srv hosts through DNS.
func uriDatabase(uri string) string {
	_, rest, _ := strings.Cut(uri, "://")
	_, path, ok := strings.Cut(rest, "/") // slashes in userinfo must be escaped
	if !ok {
		return ""
	}
	path, _, _ = strings.Cut(path, "?")
	db, err := url.PathUnescape(path)
	if err != nil {
		return path
	}
	return db
}

// validDatabase checks a database name against MongoDB's rules.
func validDatabase(name string) error {
	if len(name) > 63 || strings.ContainsAny(name, "/\\. \"$*<>:|?\x00") {
		return intake.Errorf(intake.EINVALID,
			"mongo: database name %q is invalid (at most 63 bytes, none of / \\ . space \" $ * < > : | ?)", name)
	}
	return nil
}

// Ping checks that the server answers.
func (s *Driver) Ping(ctx context.Context) error {
	return s.client.Ping(ctx, readpref.Primary())
}

// Close disconnects from the server.
func (s *Driver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// warn logs a failure that the driver repairs later, without the URI's
// secrets.
func (s *Driver) warn(msg string, err error, args ...any) {
	s.logger.Warn(msg, append(args, "err", redact.Error(err, s.uri))...)
}

// Classify returns the intake error code of a driver error.
func (s *Driver) Classify(err error) (code string, retryAfter time.Duration) {
	return classify(err), 0
}

// transientCodes are server error codes after which a retry can succeed:
// a primary stepping down, a node shutting down, a network failure seen by
// the server, an expired time limit, failed authentication (a
// misconfigured or rotating secret).
var transientCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	18,    // AuthenticationFailed
	50,    // MaxTimeMSExpired
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	133,   // FailedToSatisfyReadPreference
	189,   // PrimarySteppedDown
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// classify returns the intake error code of a driver error.
func classify(err error) string {
	var (
		sse topology.ServerSelectionError
		ce  topology.ConnectionError
		se  mongo.ServerError
	)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return intake.ENOTFOUND
	case mongo.IsDuplicateKeyError(err):
		return intake.ECONFLICT
	case errors.Is(err, mongo.ErrClientDisconnected), errors.Is(err, context.Canceled),
		mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.As(err, &sse), errors.As(err, &ce):
		return intake.EUNAVAILABLE
	case errors.As(err, &se):
		if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("SystemOverloadedError") {
			return intake.EUNAVAILABLE
		}
		for _, c := range transientCodes {
			if se.HasErrorCode(c) {
				return intake.EUNAVAILABLE
			}
		}
	}
	return intake.EINTERNAL
}

// ambiguous reports whether a write that failed with err may still have
// been applied: the request may have reached the server.
func ambiguous(err error) bool {
	return classify(err) == intake.EUNAVAILABLE
}
