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
// The company's filings evolve over simulated days (24 hours by default;
// INTAKE_FILINGS_DAY shortens them for demos): on some days (one in 20) it
// files a new form, dated from 1 January after its history ends, one
// simulated day per day, unless it has 50 filings already; rarely it
// amends a filing (same SRN and name, other figures, and a "Revised
// filing" line) or withdraws one (it is gone) unless it has only 30. A
// job thus always has 30 to 50 documents. What happens on a day depends on
// the CIN and the day alone. Days are grouped into eras of 365: each era
// starts again from the history, which bounds the days to replay however
// short the day. A document's identity (intake.Item.Identity) is its SRN.
//
// Plan reads the Source's clock once and fixes the as-of time and its
// simulated day in the job's checkpoint, which every document passes on
// unchanged: document seq is regenerated from the config and that
// checkpoint alone, so a re-run, in any process, yields the same bytes for
// the same config, checkpoint and seq, and a job's total never changes
// under it. A nil checkpoint (a job planned before filings evolved) gives
// the history alone. The generator uses only PCG's Uint64 output, whose
// sequence is fixed by its specification, never math/rand's derived
// methods, whose algorithms may change between Go releases.
//
// The optional per-document delay stands in for the download latency of the
// real portal (INTAKE_FILINGS_DELAY) and honours cancellation.
package filings
