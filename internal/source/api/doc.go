// Package api is the "api" source: it collects the pages of an HTTP
// API, one document per page, for a job config that is attacker-controlled
// input.
//
// # Pages and checkpoints
//
// Plan returns intake.TotalUnknown and a checkpoint naming the first page's
// URL. Next fetches the page its checkpoint names and returns the body with
// its content type as document seq ("page-000001.json"), and a checkpoint
// naming the next page, so that any worker process resumes at the right
// page. The next page is found by the config's pagination mode: auto and
// link follow an RFC 8288 Link rel="next" header; page and offset count a
// query parameter up until an empty page (which is not stored) or a short
// one; cursor sends the value of a JSON field of each response; none stops
// after one page. The job completes when there is no next page or at
// max_pages. Checkpoints hold URLs and counters, never header values.
//
// A page's identity, by which a job of a schedule compares it with its
// previous job's, is the config's URL (query included, the values of
// parameters whose names look secret masked) with "#page=" and the page's
// number: "https://api.example.com/v1/filings?status=final#page=2".
//
// # Progress and batching with an unknown total
//
// The Source implements intake.Bounded with max_pages as the bound, so the
// worker collects 35 % of max_pages per run (at least one page) and reports
// progress as pages collected with an unknown total; a job whose API runs
// out of pages early completes in fewer runs.
//
// # Retries
//
// 429 and 5xx answers are retried within the run, up to Options.MaxAttempts
// times, waiting as Retry-After says (or with exponential backoff); a wait
// longer than Options.MaxRetryWait returns an intake.RetryAfterError, so the
// job is rescheduled instead of sleeping on its lease. Other 4xx answers
// fail the job with a permanent error naming the status and the URL without
// its query.
//
// # Egress policy (SSRF)
//
// Every address dialled is checked in a net.Dialer Control hook against
// egress.Policy, which refuses the IANA special-purpose blocks (loopback, private,
// link-local incl. 169.254.169.254, CGNAT, benchmarking, documentation,
// multicast, NAT64, 6to4, Teredo, IPv4-mapped forms, …) unless the
// operator's allow list (INTAKE_SOURCE_HTTP_ALLOW) opens them. The transport
// never uses a proxy, resolves names itself through an injectable Resolver
// and dials the address it checked, so DNS rebinding cannot reach a refused
// address, and redirects are re-checked and capped. Numeric host spellings
// that resolvers disagree on ("2130706433", "0x7f.1", "017700000001") are
// refused at validation.
//
// # Secrets
//
// secret_headers names operator-configured secrets; each is bound to the
// hosts it may be sent to. Validation refuses a secret that is unknown or
// not bound to the URL's host, and every request, redirects and next-page
// URLs included, carries a secret only when its host is bound to it.
// Secret values never appear in configs, checkpoints, errors or logs.
//
// # Size and memory
//
// Each page's body is capped at Options.MaxResponseBytes (32 MiB); reading
// past it fails the job permanently. In modes auto, link and none the body
// is streamed to the blob store; page, offset and cursor read the JSON to
// find the next page and so hold one page in memory.
package api
