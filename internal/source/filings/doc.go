// Package filings is a simulated download of a company's ROC
// filings from India's Ministry of Corporate Affairs (MCA) portal.
//
// A job's config names a company by its Corporate Identification Number
// (CIN) and name. Nothing is fetched from the network: a generator seeded by
// the SHA-256 of the CIN draws the company's profile (incorporation date,
// directors, auditor, capital) and a filing history of 30 to 50 e-forms of
// real MCA types (MGT-7, AOC-4, DIR-12, CHG-1, …) dated between the later of
// incorporation and 2014, when the Companies Act 2013 forms replaced the old
// ones, and 2025 (a constant horizon, so that histories never change; a
// company incorporated in 2025 or later files into the following year).
// Every financial year has its financial statements (AOC-4, or AOC-4 XBRL
// for listed companies) and annual return (MGT-7, or MGT-7A for small
// private companies); the rest are event-driven or periodic forms drawn by
// weight. Each document is a plain-text rendering of its form: a
// header with the SRN and filing date, the company's particulars, the
// form's own fields (financial statements for AOC-4, directors for DIR-12,
// the charge for CHG-1, …) and a signature block.
//
// Document seq is regenerated from the config alone, so the checkpoint is
// unused (nil) and a re-run, in any process, yields the same bytes for the
// same config and seq. The generator uses only PCG's Uint64 output, whose
// sequence is fixed by its specification, never math/rand's derived methods,
// whose algorithms may change between Go releases.
//
// The optional per-document delay stands in for the download latency of the
// real portal (INTAKE_FILINGS_DELAY) and honours cancellation.
package filings
