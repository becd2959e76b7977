package database

import (
	"bytes"
	"database/sql/driver"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// mappedOIDs are the types whose values the encoder maps to JSON (and CSV)
// itself: booleans, integers, floats, numeric, strings, json and jsonb,
// dates and timestamps, bytea (base64), uuid, inet and cidr, and
// one-dimensional arrays of these. Every other type is read in
// PostgreSQL's text format and written as that text, exactly as psql
// would show it: ranges, multiranges, intervals, geometric types, money,
// bit strings, the reg* types, xml, and any type an extension adds.
var mappedOIDs = map[uint32]bool{
	pgtype.BoolOID: true, pgtype.ByteaOID: true, pgtype.NameOID: true, pgtype.Int8OID: true,
	pgtype.Int2OID: true, pgtype.Int4OID: true, pgtype.TextOID: true, pgtype.OIDOID: true,
	pgtype.JSONOID: true, pgtype.CIDROID: true, pgtype.Float4OID: true, pgtype.Float8OID: true,
	pgtype.InetOID: true, pgtype.BPCharOID: true, pgtype.VarcharOID: true, pgtype.DateOID: true,
	pgtype.TimestampOID: true, pgtype.TimestamptzOID: true, pgtype.NumericOID: true,
	pgtype.UUIDOID: true, pgtype.JSONBOID: true,

	pgtype.BoolArrayOID: true, pgtype.ByteaArrayOID: true, pgtype.NameArrayOID: true,
	pgtype.Int8ArrayOID: true, pgtype.Int2ArrayOID: true, pgtype.Int4ArrayOID: true,
	pgtype.TextArrayOID: true, pgtype.JSONArrayOID: true, pgtype.CIDRArrayOID: true,
	pgtype.Float4ArrayOID: true, pgtype.Float8ArrayOID: true, pgtype.InetArrayOID: true,
	pgtype.BPCharArrayOID: true, pgtype.VarcharArrayOID: true, pgtype.DateArrayOID: true,
	pgtype.TimestampArrayOID: true, pgtype.TimestamptzArrayOID: true,
	pgtype.NumericArrayOID: true, pgtype.UUIDArrayOID: true, pgtype.JSONBArrayOID: true,
}

// resultFormats asks for the binary format of the mapped types and the
// text format of every other one, column by column of the page query.
func resultFormats(fields []pgconn.FieldDescription) pgx.QueryResultFormatsByOID {
	f := pgx.QueryResultFormatsByOID{pgtype.TextOID: pgtype.BinaryFormatCode} // the key columns
	for _, fd := range fields {
		if mappedOIDs[fd.DataTypeOID] {
			f[fd.DataTypeOID] = pgtype.BinaryFormatCode
		} else {
			f[fd.DataTypeOID] = pgtype.TextFormatCode
		}
	}
	return f
}

// serverText returns the text PostgreSQL sent for a column of a type the
// encoder does not map, or ok false.
func serverText(oid uint32, raw []byte, format int16) (string, bool) {
	if raw == nil || format != pgtype.TextFormatCode || mappedOIDs[oid] {
		return "", false
	}
	return string(raw), true
}

// encoder writes rows of one document in its format.
type encoder struct {
	format  string
	names   []string
	w       io.Writer
	csv     *csv.Writer
	buf     []byte
	records []string
}

func newEncoder(format string, names []string, w io.Writer) (*encoder, error) {
	e := &encoder{format: format, names: names, w: w}
	if format == FormatCSV {
		e.csv = csv.NewWriter(w)
		e.records = make([]string, len(names))
		if err := e.csv.Write(names); err != nil {
			return nil, fmt.Errorf("write csv header: %w", err)
		}
	}
	return e, nil
}

// row writes one row; oids and raws are per column, raws used for json.
func (e *encoder) row(oids []uint32, vals []any, raws [][]byte, formats []int16) error {
	if e.format == FormatCSV {
		for i, v := range vals {
			if t, ok := serverText(oids[i], raws[i], formats[i]); ok {
				e.records[i] = t
				continue
			}
			e.records[i] = textValue(oids[i], v, raws[i], formats[i])
		}
		if err := e.csv.Write(e.records); err != nil {
			return fmt.Errorf("write csv row: %w", err)
		}
		return nil
	}
	b := e.buf[:0]
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.names[i])
		b = append(b, ':')
		if t, ok := serverText(oids[i], raws[i], formats[i]); ok {
			b = appendString(b, t)
			continue
		}
		b = appendJSON(b, oids[i], v, raws[i], formats[i])
	}
	b = append(b, '}', '\n')
	e.buf = b
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("write ndjson row: %w", err)
	}
	return nil
}

func (e *encoder) flush() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return fmt.Errorf("flush csv: %w", err)
		}
	}
	return nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	plain := true
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// rawJSON returns the JSON text of a json or jsonb column, or nil.
func rawJSON(oid uint32, raw []byte, format int16) []byte {
	if raw == nil || (oid != pgtype.JSONOID && oid != pgtype.JSONBOID) {
		return nil
	}
	if oid == pgtype.JSONBOID && format == pgtype.BinaryFormatCode && len(raw) > 0 {
		raw = raw[1:] // jsonb binary format: version byte, then text
	}
	if !json.Valid(raw) {
		return nil
	}
	return raw
}

// appendJSON appends the JSON form of one value.
func appendJSON(b []byte, oid uint32, v any, raw []byte, format int16) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	if j := rawJSON(oid, raw, format); j != nil {
		var c bytes.Buffer
		if json.Compact(&c, j) == nil {
			return append(b, c.Bytes()...)
		}
	}
	switch x := v.(type) {
	case bool:
		return strconv.AppendBool(b, x)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return fmt.Appendf(b, "%d", x)
	case float32:
		return appendFloat(b, float64(x), 32)
	case float64:
		return appendFloat(b, x, 64)
	case pgtype.Numeric:
		s := numericText(x)
		if json.Valid([]byte(s)) && s != "" && s[0] != '"' {
			return append(b, s...)
		}
		return appendString(b, s)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, 0, e, nil, 0)
		}
		return append(b, ']')
	case map[string]any:
		j, err := json.Marshal(x)
		if err == nil {
			return append(b, j...)
		}
	}
	return appendString(b, textValue(oid, v, raw, format))
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendString(b, floatText(f, bits))
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

func floatText(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func numericText(n pgtype.Numeric) string {
	v, err := n.Value()
	if err != nil || v == nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

// textValue returns the text form of one value, for CSV and as the
// fallback of JSON. NULL is "".
func textValue(oid uint32, v any, raw []byte, format int16) string {
	if v == nil {
		return ""
	}
	if j := rawJSON(oid, raw, format); j != nil {
		return string(j)
	}
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return fmt.Sprint(x)
	case float32:
		return floatText(float64(x), 32)
	case float64:
		return floatText(x, 64)
	case pgtype.Numeric:
		return numericText(x)
	case time.Time:
		if oid == pgtype.DateOID {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case [16]byte:
		return uuidText(x)
	case netip.Prefix:
		if x.IsSingleIP() && oid == pgtype.InetOID {
			return x.Addr().String()
		}
		return x.String()
	case []any:
		b := appendJSON(nil, oid, x, nil, 0)
		return string(b)
	case map[string]any:
		j, err := json.Marshal(x)
		if err == nil {
			return string(j)
		}
	case driver.Valuer:
		if dv, err := x.Value(); err == nil && dv != nil {
			if _, again := dv.(driver.Valuer); !again {
				return textValue(oid, dv, nil, 0)
			}
		}
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func uuidText(u [16]byte) string {
	var dst [36]byte
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
	return string(dst[:])
}

// spoolMemory is how much of a document a spool keeps in memory before it
// moves to a temporary file.
const spoolMemory = 8 << 20

// spool buffers a document: in memory up to spoolMemory, then in a
// temporary file, so that a large page does not need its size in memory.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	size int64
}

func (s *spool) Write(p []byte) (int, error) {
	s.size += int64(len(p))
	if s.file == nil && s.mem.Len()+len(p) <= spoolMemory {
		return s.mem.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "intake-database-*")
		if err != nil {
			return 0, fmt.Errorf("spool document: %w", err)
		}
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("spool document: %w", err)
		}
		s.mem = bytes.Buffer{}
	}
	n, err := s.file.Write(p)
	if err != nil {
		return n, fmt.Errorf("spool document: %w", err)
	}
	return n, nil
}

// reader returns the spooled bytes; closing it removes the temporary file.
func (s *spool) reader() (io.ReadCloser, error) {
	if s.file == nil {
		return io.NopCloser(bytes.NewReader(s.mem.Bytes())), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		s.discard()
		return nil, fmt.Errorf("spool document: %w", err)
	}
	return &spoolFile{f: s.file}, nil
}

// discard removes the temporary file, if any.
func (s *spool) discard() {
	if s.file != nil {
		_ = s.file.Close()
		_ = os.Remove(s.file.Name())
		s.file = nil
	}
}

type spoolFile struct{ f *os.File }

func (s *spoolFile) Read(p []byte) (int, error) { return s.f.Read(p) }

func (s *spoolFile) Close() error {
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); err == nil {
		err = rerr
	}
	return err
}
