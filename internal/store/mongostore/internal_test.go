package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no documents", mongo.ErrNoDocuments, intake.ENOTFOUND},
		{"wrapped no documents", fmt.Errorf("x: %w", mongo.ErrNoDocuments), intake.ENOTFOUND},
		{"duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, intake.ECONFLICT},
		{"duplicate key in a bulk write", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{
			{WriteError: mongo.WriteError{Code: 11000}}}}, intake.ECONFLICT},
		{"server selection", topology.ServerSelectionError{Wrapped: errors.New("connection refused")}, intake.EUNAVAILABLE},
		{"connection", topology.ConnectionError{Wrapped: errors.New("reset")}, intake.EUNAVAILABLE},
		{"disconnected client", mongo.ErrClientDisconnected, intake.EUNAVAILABLE},
		{"deadline", context.DeadlineExceeded, intake.EUNAVAILABLE},
		{"cancelled", context.Canceled, intake.EUNAVAILABLE},
		{"network label", mongo.CommandError{Labels: []string{"NetworkError"}}, intake.EUNAVAILABLE},
		{"primary stepped down", mongo.CommandError{Code: 189}, intake.EUNAVAILABLE},
		{"shutting down", mongo.CommandError{Code: 91}, intake.EUNAVAILABLE},
		{"retryable write", mongo.WriteException{Labels: []string{"RetryableWriteError"}}, intake.EUNAVAILABLE},
		{"authentication", mongo.CommandError{Code: 18}, intake.EUNAVAILABLE},
		{"bad query", mongo.CommandError{Code: 2, Message: "unknown operator"}, intake.EINTERNAL},
		{"anything else", errors.New("boom"), intake.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestURIDatabase(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"mongodb://127.0.0.1:27017":                               "",
		"mongodb://127.0.0.1:27017/":                              "",
		"mongodb://127.0.0.1:27017/intake":                        "intake",
		"mongodb://a:1,b:2/filesure?replicaSet=rs0":               "filesure",
		"mongodb://u:p%2Fq@127.0.0.1/db1?authSource=admin":        "db1",
		"mongodb+srv://u:p@cluster0.example.mongodb.net/prod?w=1": "prod",
		"mongodb://127.0.0.1/?authSource=admin":                   "",
		"mongodb://127.0.0.1/my%2Ddb":                             "my-db",
	}
	for uri, want := range tests {
		if got := uriDatabase(uri); got != want {
			t.Errorf("uriDatabase(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestNonAtomicUpdates(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": false, "v1.24.0": true, "1.24.0": true, "v0.9.0": true, "v2.0.0": false, "v2.5.0": false} {
		if got := nonAtomicUpdates(v); got != want {
			t.Errorf("nonAtomicUpdates(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestJobDocOmitsUnsetFields checks the stored shape of a new job: optional
// fields are absent, not null, so that filters such as
// {lease_owner: owner} and the unique idem index behave alike on every
// server.
func TestJobDocOmitsUnsetFields(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	newJob := func(tenant, key string) *intake.Job {
		return &intake.Job{ID: intake.NewID(), Tenant: tenant, SourceType: "filings", Config: []byte(`{"a":1}`),
			Status: intake.StatusPending, Total: intake.TotalUnknown, IdempotencyKey: key,
			AvailableAt: now, CreatedAt: now, UpdatedAt: now}
	}
	tests := []struct {
		name     string
		in       *intake.Job
		absent   []string
		idemFrom func(d *jobDoc) string
	}{
		{name: "without key", in: newJob(intake.DefaultTenant, ""),
			absent: []string{"lease_owner", "lease_expires_at", "checkpoint", "idempotency_key", "started_at",
				"completed_at", "batch", "last_doc", "schedule_id", "previous_job_id", "notify", "notify_due_at",
				"notify_attempts"},
			idemFrom: func(d *jobDoc) string { return "job:" + d.ID }},
		{name: "with key", in: newJob("acme", "k1"),
			absent:   []string{"lease_owner", "started_at", "batch", "last_doc"},
			idemFrom: func(*jobDoc) string { return "4:acme:k1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newJobDoc(tt.in)
			raw, err := bson.Marshal(d)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			for _, f := range tt.absent {
				if _, err := bson.Raw(raw).LookupErr(f); err == nil {
					t.Errorf("field %s is stored for a new job", f)
				}
			}
			if v := bson.Raw(raw).Lookup("available_at"); v.Type != bson.TypeDateTime {
				t.Errorf("available_at is stored as %v, want a BSON datetime", v.Type)
			}
			if d.Idem != tt.idemFrom(d) || d.Config != `{"a":1}` || d.Total != intake.TotalUnknown {
				t.Errorf("job doc %+v: want idem %q, the config's text and an unknown total", d, tt.idemFrom(d))
			}
			var back jobDoc
			if err := bson.Unmarshal(raw, &back); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if got := back.job(); !got.AvailableAt.Equal(now) || got.AvailableAt.Location() != time.UTC ||
				!got.StartedAt.IsZero() {
				t.Errorf("round trip: AvailableAt %v StartedAt %v, want %v and zero", got.AvailableAt, got.StartedAt, now)
			}
		})
	}
}

func TestIdemKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	id := intake.NewID()
	keys := []string{
		idemKey("a", "b:c"), idemKey("a:b", "c"), idemKey("", "x"), idemKey("x", ""),
		idemKey("job", id), idemNone(id), idemKey("default", "job:"+id),
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("idem value %q produced twice", k)
		}
		seen[k] = true
	}
}

// TestNotifyStored checks the stored form that the outbox's filters rely
// on: a job's notify is a subdocument when set and absent otherwise (the
// update that ends a job tests {notify: {$exists: …}}), and it survives a
// round trip, as does a schedule's.
func TestNotifyStored(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	notify := &intake.Notify{URL: "http://127.0.0.1:9/hook", Events: []intake.Event{intake.EventJobFailed}, Secret: "HOOK"}
	tests := []struct {
		name   string
		notify *intake.Notify
	}{
		{"with notify", notify},
		{"without notify", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := &intake.Job{ID: intake.NewID(), Tenant: "t", SourceType: "filings", Config: []byte(`{}`),
				Status: intake.StatusPending, Notify: tt.notify, ScheduleID: intake.NewID(), PreviousJobID: intake.NewID(),
				AvailableAt: now, CreatedAt: now, UpdatedAt: now}
			raw, err := bson.Marshal(newJobDoc(in))
			if err != nil {
				t.Fatal(err)
			}
			v, err := bson.Raw(raw).LookupErr("notify")
			if (err == nil) != (tt.notify != nil) || (err == nil && v.Type != bson.TypeEmbeddedDocument) {
				t.Errorf("notify stored as %v (lookup error %v), want a subdocument exactly when set", v.Type, err)
			}
			var back jobDoc
			if err := bson.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			got := back.job()
			if !reflect.DeepEqual(got.Notify, tt.notify) || got.ScheduleID != in.ScheduleID || got.PreviousJobID != in.PreviousJobID {
				t.Errorf("round trip: notify %+v, schedule %q, previous %q; want %+v, %q, %q",
					got.Notify, got.ScheduleID, got.PreviousJobID, tt.notify, in.ScheduleID, in.PreviousJobID)
			}

			sch := &intake.Schedule{ID: intake.NewID(), Tenant: "t", Name: "n", SourceType: "filings",
				Config: []byte(`{"a":1}`), Interval: intake.Duration(90 * time.Minute), Jitter: intake.Duration(1500 * time.Millisecond),
				Misfire: intake.MisfireSkip, Overlap: intake.OverlapQueueOne, Notify: tt.notify, NextFireAt: now,
				Version: 3, CreatedAt: now, UpdatedAt: now}
			raw, err = bson.Marshal(newScheduleDoc(sch))
			if err != nil {
				t.Fatal(err)
			}
			var sback scheduleDoc
			if err := bson.Unmarshal(raw, &sback); err != nil {
				t.Fatal(err)
			}
			if got := sback.schedule(); !reflect.DeepEqual(got, sch) {
				t.Errorf("schedule round trip = %+v, want %+v", got, sch)
			}
		})
	}
}
