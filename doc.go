// Package intake holds the domain of the intake document collection service:
// jobs, documents, the errors every layer shares, and the small interfaces
// (seams) behind which the job store, blob storage, dispatch and sources live.
//
// Implementations live in their own packages under internal/ and are wired
// together by cmd/intake. Data flows one way: the API creates jobs in the
// store; workers claim them, pull documents from a Source, write each one to a
// BlobStore and record its metadata in the store under the lease fence.
package intake
