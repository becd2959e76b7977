// Package database is the "database" source: it collects the rows of one
// read-only SQL query against an operator-configured PostgreSQL connection,
// rows_per_document rows per document, as NDJSON or CSV.
//
// # Connections
//
// A job names a connection (config "connection"); it never carries a DSN.
// The operator configures each connection as INTAKE_SOURCE_DB_<NAME>_URL (or
// _FILE) and the binary passes them to New as Options.Connections. Names
// match case-insensitively. A pool per connection is opened on first use and
// closed by Close.
//
// # Safety without a SQL parser
//
// Job configs are attacker-controlled, and the binary has no cgo SQL parser,
// so the text check on "query" (it must start with SELECT or WITH after
// comments) is only a first filter. The guards that hold are:
//
//   - the extended protocol (pgx's QueryExecModeDescribeExec, an unnamed
//     prepared statement): the server refuses a string with more than one
//     statement ("SELECT 1; DROP TABLE t" fails with 42601 and runs nothing);
//   - every query runs in a BEGIN READ ONLY transaction with SET LOCAL
//     statement_timeout (Options.StatementTimeout), so a write through a
//     function (nextval, a volatile user function) or a row lock fails with
//     25006, and a slow query is cancelled (57014); a client-side deadline
//     of twice the timeout backs it up. A data-modifying CTE (WITH x AS
//     (DELETE …) SELECT …) is refused even earlier, since the page query
//     wraps it in a subquery (0A000), and at the top level the read-only
//     transaction refuses it (25006);
//   - the transaction is always rolled back, then DISCARD ALL resets the
//     pooled session (a session advisory lock taken by pg_advisory_lock, a
//     LISTEN), or the connection is closed;
//   - a describe step: the query is prepared on its own first, and it must
//     return columns (DELETE or UPDATE without RETURNING is rejected), with
//     unique names, including every key column, and take exactly as many
//     parameters as "params" holds;
//   - a row cap per job (Options.MaxRows) and per document (LIMIT, and the
//     reader stops counting rows at the page size whatever the SQL says);
//   - parameters are bound ($1, $2, …), never spliced into the text; key
//     column names are restricted to plain identifiers and quoted.
//
// A warning is logged once per connection when its role is a superuser. The
// role an operator should give intake is a least-privilege, read-only one:
//
//	CREATE ROLE intake_reader LOGIN PASSWORD '…'
//	    CONNECTION LIMIT 8;
//	ALTER ROLE intake_reader SET default_transaction_read_only = on;
//	ALTER ROLE intake_reader SET statement_timeout = '30s';
//	GRANT CONNECT ON DATABASE app TO intake_reader;
//	GRANT USAGE ON SCHEMA reporting TO intake_reader;
//	GRANT SELECT ON reporting.customers, reporting.orders TO intake_reader;
//
// (no superuser, no CREATE, no ownership of anything, SELECT only on the
// tables or views jobs may read; for row subsets grant a view or use row
// level security). Read-only transactions do not stop functions that act
// outside the database — pg_terminate_backend, pg_read_file, lo_export,
// dblink — which is why the role must not be a superuser nor a member of
// pg_signal_backend, pg_read_server_files or pg_execute_server_program.
//
// Validate checks the config without connecting (the API calls it at
// trigger time): the connection name is configured, the query starts with
// SELECT or WITH, params are scalars, key names are plain identifiers.
// Plan, on the first run, describes the query, so that a query the server
// refuses fails the job at once.
//
// # Stable documents: keyset pagination
//
// Data changes between the runs of a job, which may happen in different
// pods. This package uses keyset pagination on a unique key the job declares
// ("key", one or more result columns) rather than materialising the result:
// nothing has to be stored or cleaned up outside the job, and every run reads
// the live table. Document n holds the next rows_per_document rows in key
// order after the last key of document n-1; the job's checkpoint holds that
// last key (as text) and the rows collected so far, so a fresh pod resumes
// exactly there. Consequences, by design:
//
//   - a document, once collected, never changes;
//   - rows inserted or deleted behind the cursor (keys at or below the
//     checkpoint's key) are not seen; rows inserted ahead of it are
//     collected; rows deleted ahead of it are not;
//   - document n holds rows ((n-1)×rows_per_document, n×rows_per_document]
//     of the rows collected, in key order.
//
// That row range in key order is the document's identity, by which a job
// of a schedule compares it with its previous job's: "rows 1001-2000 by
// (region, id)". It depends on the document's place alone, not on the keys
// it holds, so that a page whose rows changed is a changed document.
//
// The key must be unique and never NULL; a duplicate key detected inside a
// page or across a page boundary (each page reads one row more than it
// keeps) and a NULL key fail the job permanently. Each page is read with
// rows_per_document+1 rows: a page with fewer is the last one, and the next
// call returns intake.ErrExhausted without querying. The total is unknown;
// the source implements intake.Bounded with ceil(MaxRows/rows_per_document),
// so that the worker's 35 % batching applies to that bound.
//
// # Values
//
// NDJSON documents hold one JSON object per row, keys in column order:
// integers, floats and numerics as JSON numbers (NaN and infinities as
// strings), booleans, json/jsonb embedded as is, timestamps in RFC 3339
// (timestamp without time zone as UTC, date as YYYY-MM-DD), bytea in base64,
// UUIDs in their canonical form, arrays as JSON arrays, NULL as null, and
// anything else as its PostgreSQL text form. CSV documents have a header row
// and the same values as text; NULL is an empty field.
//
// # Errors
//
// A connection failure is transient (EUNAVAILABLE; the details go to the log,
// not to the job's last_error). SQL errors caused by the query (class 42
// syntax and access rule violations such as 42601, 42P01 and 42501, 25006
// read-only violations, 22 data exceptions, …) are permanent. A statement
// timeout (57014) is transient: the worker retries it until its MaxAttempts.
package database
