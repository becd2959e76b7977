// Package file is the "file" source: it collects files from a share
// mounted at an operator-configured root (INTAKE_SOURCE_FILE_ROOT), one
// document per regular file.
//
// A job's config is a doublestar glob relative to the root ("**" crosses
// directories) and an optional max_file_size no larger than the operator's.
// Containment does not rest on string checks: the walk and every open go
// through an os.Root, which refuses any path, "..", or symlink that
// resolves outside the root, even one swapped in after the plan. The
// pattern is still rejected at validation when it is absolute or has "."
// or ".." segments, so that a caller learns at once.
//
// On a job's first run, Plan walks the root without following symlinks
// (no loops, no directories outside the root) and fixes the sorted list of
// matching regular files in the checkpoint (gzip-compressed JSON, passed on
// unchanged with each document), so that files added later are not
// collected and document n is the same file in every process. Matched
// symlinks are resolved through the root: one to a regular file inside it
// is collected under its own name. Entries that cannot be collected —
// symlinks leading outside the root, FIFOs, sockets, devices, unreadable
// files or directories, files over max_file_size — are skipped, each
// logged at warn level, and listed (the first 1,000, with the total count)
// in a final JSON document named _skipped.json (document type
// skipped-report), so the job completes with the rest and the caller sees
// what was left out in the job's result.
//
// A document's identity, by which a job of a schedule compares it with its
// previous job's, is the file's path relative to the root; the report's is
// "/_skipped.json", which no relative path can be.
//
// Next opens file n through the root with O_NONBLOCK (a FIFO swapped in
// cannot block it), checks on the open descriptor that it is still a
// regular file within max_file_size, and hands the open file to the worker,
// which streams it to the blob store and computes its SHA-256 on the way:
// memory does not grow with the file. Reading past max_file_size (a file
// growing during the copy) fails the read. The content type comes from the
// extension, else from sniffing the first 512 bytes, which are then
// replayed ahead of the rest. Failures: a file that vanished or became
// unreadable is transient, so the worker retries with backoff (a share
// that blipped) and fails the job once its attempts are used up; a
// symlink that now leads outside the root, a file that is no longer
// regular, or one that grew over the limit fails the job at once.
//
// With an empty root the source is disabled: Validate rejects every config
// with EINVALID, which the API answers with 422.
package file
