// Package telemetry owns the process's observability: the Prometheus
// registry, metrics around the job store and blob storage, the queue
// gauges read from the store, and the slog logger.
//
// Every metric is named intake_*, in base units, with bounded labels:
// operation names come from the Store and BlobStore methods, outcomes from
// the fixed set that Outcome returns. Queue gauges are snapshots of the
// shared store, so every replica that exports them reports the same values;
// dashboards aggregate them with max, not sum.
package telemetry
