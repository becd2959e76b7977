package database

import (
	"slices"
	"strings"
)

// refusedFunctions are functions that PostgreSQL lets every role execute
// by default and that act outside a read-only transaction (signalling
// other sessions, writing WAL, notifying listeners, taking session-level
// advisory locks, changing settings) or run SQL given as a string, which
// would hide a call from this list. A query naming one is refused before it
// reaches the server. This is a first filter: the REVOKE list in the README
// (the server's guard) is what stops such calls, whatever their spelling.
var refusedFunctions = []string{
	"pg_terminate_backend", "pg_cancel_backend",
	"pg_logical_emit_message", "pg_notify", "set_config",
	"pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
	"pg_advisory_xact_lock", "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared",
	"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
	"ts_stat", "ts_rewrite",
	"dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_send_query", "dblink_open",
	"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file",
	"lo_import", "lo_export",
}

// refusedCall returns the first refused function the query names, or "".
// It matches whole identifiers without regard to case, anywhere in the
// text (also inside quoted identifiers, string literals and comments, so
// that SQL passed as a string is caught too), and refuses identifiers
// written with Unicode escapes (U&"…"), which could spell any name.
func refusedCall(query string) string {
	lower := strings.ToLower(query)
	if i := strings.Index(lower, `u&"`); i >= 0 && (i == 0 || !isIdentByte(lower[i-1])) {
		return `U&"…" (a Unicode-escaped identifier)`
	}
	for i := 0; i < len(lower); {
		if !isIdentByte(lower[i]) {
			i++
			continue
		}
		j := i
		for j < len(lower) && isIdentByte(lower[j]) {
			j++
		}
		if slices.Contains(refusedFunctions, lower[i:j]) {
			return lower[i:j]
		}
		i = j
	}
	return ""
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
