package accounts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// Element is one piece of a bank data file as Stream reads it.
type Element struct {
	// Kind is servicer, party, account, transaction, unknown (a top-level member the format
	// lacks), or member: the start of a top-level member (Path names it; no Raw).
	Kind   string
	Path   string // JSON pointer, e.g. /accounts/3/transactions/12
	Offset int64  // where it starts in the file
	Raw    json.RawMessage
	// Account is the index of the account a transaction belongs to, and AccountNumber its number
	// (empty if the account object names none).
	Account       int
	AccountNumber string
}

// Stream reads a bank data file element by element — the servicer, each party, each transaction,
// and each account without its transactions (after them) — so that memory is bounded by the
// largest single element, never by the file. Transactions written before their account's
// accountNumber are held until the account object ends.
func Stream(r io.Reader, fn func(Element) error) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		if err := fn(Element{Kind: "member", Path: "/" + key, Offset: dec.InputOffset()}); err != nil {
			return err
		}
		switch key {
		case "servicer":
			if err := emit(dec, fn, Element{Kind: "servicer", Path: "/servicer"}); err != nil {
				return err
			}
		case "parties":
			if err := array(dec, func(i int) error {
				return emit(dec, fn, Element{Kind: "party", Path: "/parties/" + strconv.Itoa(i)})
			}); err != nil {
				return err
			}
		case "accounts":
			if err := array(dec, func(i int) error { return streamAccount(dec, i, fn) }); err != nil {
				return err
			}
		default:
			if err := emit(dec, fn, Element{Kind: "unknown", Path: "/" + key}); err != nil {
				return err
			}
		}
	}
	return expectDelim(dec, '}')
}

func streamAccount(dec *json.Decoder, i int, fn func(Element) error) error {
	path := "/accounts/" + strconv.Itoa(i)
	start := dec.InputOffset()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	fields := map[string]json.RawMessage{}
	var order []string
	var held []Element // transactions read before the account number
	number := ""
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		if key != "transactions" {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			if _, dup := fields[key]; !dup {
				order = append(order, key)
			}
			fields[key] = raw
			if key == "accountNumber" {
				_ = json.Unmarshal(raw, &number)
				for _, h := range held {
					h.AccountNumber = number
					if err := fn(h); err != nil {
						return err
					}
				}
				held = nil
			}
			continue
		}
		if err := array(dec, func(j int) error {
			e := Element{Kind: "transaction", Path: path + "/transactions/" + strconv.Itoa(j), Offset: dec.InputOffset(), Account: i, AccountNumber: number}
			if err := dec.Decode(&e.Raw); err != nil {
				return err
			}
			if number == "" {
				held = append(held, e)
				return nil
			}
			return fn(e)
		}); err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	for _, h := range held {
		if err := fn(h); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for k, key := range order {
		if k > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(fields[key])
	}
	b.WriteByte('}')
	return fn(Element{Kind: "account", Path: path, Offset: start, Raw: b.Bytes(), Account: i, AccountNumber: number})
}

func emit(dec *json.Decoder, fn func(Element) error, e Element) error {
	e.Offset = dec.InputOffset()
	if err := dec.Decode(&e.Raw); err != nil {
		return err
	}
	return fn(e)
}

func array(dec *json.Decoder, each func(i int) error) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		if err := each(i); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	off := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return &streamError{off, err}
	}
	if tok != d {
		return &streamError{off, fmt.Errorf("expected %q, found %v", d, tok)}
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	off := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return "", &streamError{off, err}
	}
	s, ok := tok.(string)
	if !ok {
		return "", &streamError{off, fmt.Errorf("expected a member name, found %v", tok)}
	}
	return s, nil
}

// streamError is a file that is not the JSON the format needs, at an offset.
type streamError struct {
	off int64
	err error
}

func (e *streamError) Error() string { return e.err.Error() }

// CheckFile is Check for a file of any size: the file streams past (Stream) and each element is
// checked against its schema and the Validator; memory is bounded by the largest element, and the
// problems are located by line and column in a second look at the file.
// Counts are the sizes of a checked file.
type Counts struct{ Parties, Accounts, Transactions int }

func CheckFile(path string) ([]Problem, Counts, error) {
	var counts Counts
	f, err := os.Open(path)
	if err != nil {
		return nil, counts, err
	}
	defer f.Close()
	schemas, err := elementSchemas()
	if err != nil {
		return nil, counts, err
	}
	type found struct {
		off     int64
		path    string
		message string
	}
	var problems []found
	add := func(off int64, path, msg string) { problems = append(problems, found{off, path, msg}) }
	v := NewValidator()
	members := map[string]bool{}
	err = Stream(bufio.NewReaderSize(f, 1<<20), func(e Element) error {
		if e.Kind == "member" {
			members[e.Path] = true
			return nil
		}
		var doc any
		if err := json.Unmarshal(e.Raw, &doc); err != nil {
			add(e.Offset, e.Path, err.Error())
			return nil
		}
		loc := newLocator(e.Raw)
		relative := func(p string) int64 {
			if e.Kind == "account" {
				return -1 // rebuilt without its transactions: located by pointer, in the file itself
			}
			base := skipSeparators(f, e.Offset) // the decoder's offset may stand before ", " or ": "
			for q := p; ; {
				if off, ok := loc.offsets[q]; ok {
					return base + off
				}
				i := strings.LastIndex(q, "/")
				if i < 0 {
					return e.Offset
				}
				q = q[:i]
			}
		}
		schema := schemas[e.Kind]
		if schema == nil {
			add(e.Offset, e.Path, fmt.Sprintf("property %q is unsupported", strings.TrimPrefix(e.Path, "/")))
			return nil
		}
		ok := true
		if err := schema.VisitJSON(doc, openapi3.EnableFormatValidation(), openapi3.MultiErrors()); err != nil {
			ok = false
			for _, fe := range flatten(err) {
				var se *openapi3.SchemaError
				if !errors.As(fe, &se) {
					add(e.Offset, e.Path, fe.Error())
					continue
				}
				sub := "/" + strings.Join(se.JSONPointer(), "/")
				if m := unsupportedRe.FindStringSubmatch(se.Reason); m != nil {
					sub = strings.TrimSuffix(sub, "/") + "/" + m[1]
				}
				add(relative(strings.TrimSuffix(sub, "/")), e.Path+strings.TrimSuffix(sub, "/"), schemaMessage(se))
			}
		}
		walkStrings(doc, "", func(p, s string) {
			if strings.ContainsRune(s, 0) {
				ok = false
				add(relative(p), e.Path+p, "contains a NUL character, which no database stores")
			}
		})
		if !ok {
			return nil
		}
		switch e.Kind {
		case "servicer":
			var s Servicer
			if err := strictJSON(e.Raw, &s); err == nil {
				v.Servicer(s)
			}
		case "party":
			counts.Parties++
			var p Party
			if err := strictJSON(e.Raw, &p); err == nil {
				v.Party(indexOf(e.Path), p)
			}
		case "transaction":
			counts.Transactions++
			var t dsop.Transaction
			if err := strictJSON(e.Raw, &t); err == nil {
				v.Transaction(e.Account, indexOf(e.Path), t)
			}
		case "account":
			counts.Accounts++
			var a Account
			if err := strictJSON(e.Raw, &a); err == nil {
				v.Account(e.Account, a)
			}
		}
		return nil
	})
	if err != nil {
		var se *streamError
		off := int64(0)
		if errors.As(err, &se) {
			off = se.off
		}
		add(off, "/", "not a bank data file: "+err.Error())
	}
	if err == nil {
		for _, name := range []string{"servicer", "parties", "accounts"} {
			if !members["/"+name] {
				add(0, "/", fmt.Sprintf("property %q is missing", name))
			}
		}
		if verr := v.Err(); verr != nil {
			for _, fe := range flatten(verr) {
				l, msg, _ := strings.Cut(fe.Error(), ": ")
				add(-1, pointerOf(l), msg) // located below, by a second pass over the file
			}
		}
	}
	// Locate the rule problems (by pointer) and everything (by offset) in one more pass.
	var pointers []string
	for _, p := range problems {
		if p.off < 0 {
			pointers = append(pointers, p.path)
		}
	}
	offsets, err := pointerOffsets(path, pointers)
	if err != nil {
		return nil, counts, err
	}
	lines, err := newLineIndex(path)
	if err != nil {
		return nil, counts, err
	}
	out := make([]Problem, 0, len(problems))
	for _, p := range problems {
		off := p.off
		if off < 0 {
			off = offsets[p.path]
		}
		line, col := lines.position(f, off)
		out = append(out, Problem{Line: line, Column: col, Path: p.path, Message: p.message})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out, counts, nil
}

// elementSchemas are the schemas of each element kind, from openapi/bank-data.yaml.
func elementSchemas() (map[string]*openapi3.Schema, error) {
	root, err := bankDataSchema()
	if err != nil {
		return nil, err
	}
	servicer := root.Properties["servicer"].Value
	party := root.Properties["parties"].Value.Items.Value
	account := root.Properties["accounts"].Value.Items.Value
	transaction := account.Properties["transactions"].Value.Items.Value
	return map[string]*openapi3.Schema{"servicer": servicer, "party": party, "account": account, "transaction": transaction}, nil
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

func indexOf(path string) int {
	n, _ := strconv.Atoi(path[strings.LastIndex(path, "/")+1:])
	return n
}

// pointerOffsets finds the offsets of the given JSON pointers in one streaming pass.
func pointerOffsets(path string, pointers []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(pointers) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, p := range pointers {
		for q := p; q != ""; q = q[:max(strings.LastIndex(q, "/"), 0)] {
			want[q] = true
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	walkOffsets(bufio.NewReaderSize(f, 1<<20), func(p string, off int64) {
		if want[p] {
			out[p] = off
		}
	})
	// A pointer to a missing member is located at its nearest parent.
	for _, p := range pointers {
		for q := p; ; q = q[:strings.LastIndex(q, "/")] {
			if off, ok := out[q]; ok {
				out[p] = off
				break
			}
			if !strings.Contains(q, "/") {
				out[p] = 0
				break
			}
		}
	}
	return out, nil
}

// lineIndex maps a byte offset to a line and column without holding the file: it keeps the offset
// of every 4096th newline and reads the short stretch between.
type lineIndex struct{ marks []int64 }

const lineStride = 4096

func newLineIndex(path string) (*lineIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := &lineIndex{marks: []int64{0}}
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	n := 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			break
		}
		off++
		if b == '\n' {
			n++
			if n%lineStride == 0 {
				idx.marks = append(idx.marks, off)
			}
		}
	}
	return idx, nil
}

// skipSeparators moves a decoder offset past the white space, colons and commas before a value.
func skipSeparators(f *os.File, off int64) int64 {
	var one [1]byte
	for {
		if _, err := f.ReadAt(one[:], off); err != nil || !strings.ContainsRune(" \t\r\n:,", rune(one[0])) {
			return off
		}
		off++
	}
}

func (l *lineIndex) position(f *os.File, off int64) (line, col int) {
	off = skipSeparators(f, off)
	k := sort.Search(len(l.marks), func(i int) bool { return l.marks[i] > off }) - 1
	start := l.marks[max(k, 0)]
	buf := make([]byte, off-start)
	_, _ = f.ReadAt(buf, start)
	line = max(k, 0)*lineStride + 1 + bytes.Count(buf, []byte("\n"))
	col = len(buf) - bytes.LastIndexByte(buf, '\n')
	return line, col
}
