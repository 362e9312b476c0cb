package accounts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// Element is one piece of a bank data file as Stream reads it.
type Element struct {
	// Kind is servicer, sequence, party, account, transaction, unknown (a top-level member the format
	// lacks), member (the start of a top-level member: Path names it; no Raw), or invalid: a
	// part of the file that cannot be read one way only (Problem says why; Stream goes on).
	Kind   string
	Path   string // JSON pointer, e.g. /accounts/3/transactions/12
	Offset int64  // where it starts in the file
	Raw    json.RawMessage
	// Account is the index of the account a transaction belongs to, and AccountNumber its number
	// (empty if the account object names none).
	Account       int
	AccountNumber string
	Problem       string
}

// MaxElement is the most bytes one element of a bank data file — the servicer, a party, a
// transaction, an account without its transactions — may take. A longer one is refused while it
// is read, so that memory is bounded by this limit and never by a value in the file.
const MaxElement = 1 << 20

// Stream reads a bank data file element by element — the servicer, each party, each transaction,
// and each account without its transactions (after them) — so that memory is bounded by
// MaxElement, never by the file. Transactions written before their account's accountNumber are
// held until the account object ends.
//
// It is the one reader of bank data files (check-bank-data, import, the in-memory store), and it
// reads a file one way only (issue #28): a member name twice in one object (at any depth),
// invalid UTF-8, a lone surrogate, or anything after the document is reported as an invalid
// element — never resolved by taking the first or the last — and reading goes on, so that every
// problem of a file is found in one run. A value longer than MaxElement, or JSON that is not
// well-formed, ends the reading with an error.
func Stream(r io.Reader, fn func(Element) error) error {
	g := &guard{r: r}
	// Lax about duplicates and UTF-8 so that reading can go on past them: each element is then
	// checked strictly (strictElement), and names at the levels read token by token are tracked
	// here.
	dec := jsontext.NewDecoder(g, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	g.dec = dec
	s := &streamer{dec: dec, fn: fn}
	if err := s.expectDelim('{'); err != nil {
		return err
	}
	names := map[string]bool{}
	for dec.PeekKind() != '}' {
		key, off, err := s.name()
		if err != nil {
			return err
		}
		if names[key] {
			if err := s.invalid("/"+key, off, fmt.Sprintf("member %q is given twice: a bank data file must say everything once", key)); err != nil {
				return err
			}
		}
		names[key] = true
		if err := fn(Element{Kind: "member", Path: "/" + key, Offset: dec.InputOffset()}); err != nil {
			return err
		}
		switch key {
		case "servicer":
			err = s.emit(Element{Kind: "servicer", Path: "/servicer"})
		case "sequence":
			err = s.emit(Element{Kind: "sequence", Path: "/sequence"})
		case "parties":
			err = s.array(func(i int) error { return s.emit(Element{Kind: "party", Path: "/parties/" + strconv.Itoa(i)}) })
		case "accounts":
			err = s.array(func(i int) error { return s.account(i) })
		default:
			err = s.emit(Element{Kind: "unknown", Path: "/" + key})
		}
		if err != nil {
			return err
		}
	}
	if err := s.expectDelim('}'); err != nil {
		return err
	}
	// One document only: a second, or anything else, would be read by some tools and not others.
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		var se *jsontext.SyntacticError
		off := dec.InputOffset()
		if errors.As(err, &se) {
			off = se.ByteOffset
		} else if err == nil {
			off-- // the token read: at least its first byte
		}
		return s.invalid("", off, "data after the end of the document: a bank data file is one JSON object")
	}
	return nil
}

// guard fails a read when the decoder holds more than MaxElement bytes it has not consumed: a
// value that long is being buffered whole.
type guard struct {
	r   io.Reader
	n   int64
	dec *jsontext.Decoder
}

func (g *guard) Read(p []byte) (int, error) {
	if g.dec != nil && g.n-g.dec.InputOffset() > MaxElement {
		return 0, &tooLong{off: g.dec.InputOffset()}
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	return n, err
}

type tooLong struct{ off int64 }

func (e *tooLong) Error() string {
	return fmt.Sprintf("a value of more than %d bytes: no element of a bank data file is that long", MaxElement)
}

type streamer struct {
	dec *jsontext.Decoder
	fn  func(Element) error
}

func (s *streamer) invalid(path string, off int64, msg string) error {
	return s.fn(Element{Kind: "invalid", Path: path, Offset: off, Problem: msg})
}

// strict reports what makes raw readable more than one way (duplicate names, invalid UTF-8,
// lone surrogates), located within the element that starts at off.
func (s *streamer) strict(path string, off int64, raw []byte) (bool, error) {
	d := jsontext.NewDecoder(bytes.NewReader(raw))
	if _, err := d.ReadValue(); err != nil {
		var se *jsontext.SyntacticError
		at, where, msg := off, path, err.Error()
		if errors.As(err, &se) {
			at, where = off+se.ByteOffset, path+string(se.JSONPointer)
			msg = strings.TrimPrefix(se.Err.Error(), "jsontext: ")
			if strings.Contains(msg, "duplicate") {
				msg += ": a bank data file must say everything once"
			}
		}
		return false, s.invalid(where, at, msg)
	}
	return true, nil
}

// readValue reads one value and checks it strictly; ok is false when it was reported invalid.
func (s *streamer) readValue(path string) (raw []byte, off int64, ok bool, err error) {
	off = s.dec.InputOffset()
	v, err := s.dec.ReadValue()
	if err != nil {
		return nil, off, false, s.fail(err)
	}
	off = valueStart(off, v, s.dec)
	ok, err = s.strict(path, off, v)
	return v, off, ok, err
}

func (s *streamer) emit(e Element) error {
	raw, off, ok, err := s.readValue(e.Path)
	if err != nil || !ok {
		return err
	}
	e.Raw, e.Offset = slices.Clone(raw), off
	return s.fn(e)
}

func (s *streamer) array(each func(i int) error) error {
	if err := s.expectDelim('['); err != nil {
		return err
	}
	for i := 0; s.dec.PeekKind() != ']'; i++ {
		if s.dec.PeekKind() == 0 {
			_, err := s.dec.ReadToken()
			return s.fail(err)
		}
		if err := each(i); err != nil {
			return err
		}
	}
	return s.expectDelim(']')
}

func (s *streamer) account(i int) error {
	dec := s.dec
	path := "/accounts/" + strconv.Itoa(i)
	if err := s.expectDelim('{'); err != nil {
		return err
	}
	start := dec.InputOffset() - 1 // at the '{'
	fields := map[string]json.RawMessage{}
	var order []string
	var held []Element // transactions read before the account number
	number, broken := "", false
	for dec.PeekKind() != '}' {
		key, off, err := s.name()
		if err != nil {
			return err
		}
		if _, dup := fields[key]; dup || (key == "transactions" && slices.Contains(order, key)) {
			// Never resolved by first or last: the transactions of one account number would be
			// filed under the other (issue #28).
			broken = true
			if err := s.invalid(path+"/"+key, off, fmt.Sprintf("member %q is given twice in one account: a bank data file must say everything once", key)); err != nil {
				return err
			}
		}
		if key != "transactions" {
			raw, _, ok, err := s.readValue(path + "/" + key)
			if err != nil {
				return err
			}
			broken = broken || !ok
			if _, dup := fields[key]; !dup {
				order = append(order, key)
				fields[key] = slices.Clone(raw)
			}
			if key == "accountNumber" && number == "" {
				_ = json.Unmarshal(raw, &number)
				for _, h := range held {
					h.AccountNumber = number
					if err := s.fn(h); err != nil {
						return err
					}
				}
				held = nil
			}
			continue
		}
		order = append(order, key)
		if err := s.array(func(j int) error {
			tp := path + "/transactions/" + strconv.Itoa(j)
			raw, off, ok, err := s.readValue(tp)
			if err != nil || !ok {
				return err
			}
			e := Element{Kind: "transaction", Path: tp, Offset: off, Raw: slices.Clone(raw), Account: i, AccountNumber: number}
			if number == "" {
				held = append(held, e)
				return nil
			}
			return s.fn(e)
		}); err != nil {
			return err
		}
	}
	if err := s.expectDelim('}'); err != nil {
		return err
	}
	if broken {
		return nil // reported: an account read more than one way is not handed on
	}
	for _, h := range held {
		if err := s.fn(h); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for _, key := range order {
		if key == "transactions" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(fields[key])
	}
	b.WriteByte('}')
	return s.fn(Element{Kind: "account", Path: path, Offset: start, Raw: b.Bytes(), Account: i, AccountNumber: number})
}

func (s *streamer) expectDelim(d byte) error {
	off := s.dec.InputOffset()
	tok, err := s.dec.ReadToken()
	if err != nil {
		return s.fail(err)
	}
	if tok.Kind() != jsontext.Kind(d) {
		return &streamError{max(off, s.dec.InputOffset()-1), fmt.Errorf("expected %q, found %s", d, tok)}
	}
	return nil
}

// name reads a member name and where it starts.
func (s *streamer) name() (string, int64, error) {
	raw, err := s.dec.ReadValue()
	if err != nil {
		return "", s.dec.InputOffset(), s.fail(err)
	}
	start := s.dec.InputOffset() - int64(len(raw))
	var key string
	if err := json.Unmarshal(raw, &key); err != nil {
		return "", start, &streamError{start, fmt.Errorf("expected a member name, found %s", raw)}
	}
	if _, err := s.strict("/"+key, start, raw); err != nil { // invalid UTF-8 or a lone surrogate in a name
		return "", start, err
	}
	return key, start, nil
}

// fail turns a reading error into a located one.
func (s *streamer) fail(err error) error {
	var tl *tooLong
	if errors.As(err, &tl) {
		return &streamError{tl.off, tl}
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &streamError{se.ByteOffset, errors.New(strings.TrimPrefix(se.Err.Error(), "jsontext: "))}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &streamError{s.dec.InputOffset(), errors.New("the file ends in the middle of the document")}
	}
	return &streamError{s.dec.InputOffset(), err}
}

// valueStart is where a value just read begins: the raw value is verbatim, so it ends where the
// decoder stands.
func valueStart(_ int64, v jsontext.Value, dec *jsontext.Decoder) int64 {
	return dec.InputOffset() - int64(len(v))
}

// streamError is a file that is not the JSON the format needs, at an offset.
type streamError struct {
	off int64
	err error
}

func (e *streamError) Error() string { return e.err.Error() }

// Counts are the sizes of a checked file.
type Counts struct{ Parties, Accounts, Transactions int }

// CheckFile checks a bank data file of any size: the file streams past (Stream) and each element
// is checked against its schema and the Validator; memory is bounded by the largest element, and
// the problems are located by line and column in a second look at the file.
func CheckFile(path string) ([]Problem, Counts, error) {
	r, err := CheckFileWith(path, CheckOptions{})
	return r.Problems, r.Counts, err
}

// CheckOptions make CheckFileWith the reading of an import as well as a check.
type CheckOptions struct {
	// Delta reads a change set (openapi/bank-data-delta.yaml): "sequence" is required and the
	// other members optional, and a role may name a party the store already has (KnownParties).
	Delta bool
	// KnownParties tells which of the parties a delta's roles name, not given in the delta, the
	// store has; the others are problems of the file.
	KnownParties func(ids []string) (map[string]bool, error)
	// Load is given each element that passed its checks, with its decoded value (Servicer,
	// Party, Account, dsop.Transaction or the sequence as int64), as long as no problem has been
	// found: one pass both checks and loads, and a file with a problem is refused as a whole by
	// the caller, who must discard what it loaded.
	Load func(e Element, v any) error
	// Prepare, when set, turns a passed element's value into what Load is given instead, on
	// several cores at once (it must not depend on the order of elements).
	Prepare func(e Element, v any) (any, error)
}

var errStopped = errors.New("stopped")

// CheckResult is what CheckFileWith found.
type CheckResult struct {
	Problems []Problem
	Counts   Counts
	Sequence int64 // the file's "sequence", -1 when it has none
}

// Refused is a file with problems: nothing of it was taken.
type Refused struct {
	File     string
	Problems []Problem
}

func (e *Refused) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("%s:%s; nothing was imported", e.File, e.Problems[0])
	}
	return fmt.Sprintf("%s: %d problems, the first %s; nothing was imported", e.File, len(e.Problems), e.Problems[0])
}

// found is a problem before it is located by line and column: off < 0 is located by path.
type found struct {
	off     int64
	path    string
	message string
}

// examined is one element after the checks that need nothing but the element itself.
type examined struct {
	e        Element
	problems []found
	value    any // the strictly decoded value, nil when it could not be decoded
	prepared any // CheckOptions.Prepare's result
	err      error
}

// examine runs the checks of one element that need nothing else (schema, NUL characters, strict
// decoding): pure, so that elements are examined on several cores at once.
func examine(f *os.File, schemas map[string]*openapi3.Schema, x *examined) {
	e := x.e
	add := func(off int64, path, msg string) { x.problems = append(x.problems, found{off, path, msg}) }
	var doc any
	if err := json.Unmarshal(e.Raw, &doc); err != nil {
		add(e.Offset, e.Path, err.Error())
		return
	}
	var loc *locator // the offsets of the element's values, found only when a problem needs them
	relative := func(p string) int64 {
		if e.Kind == "account" {
			return -1 // rebuilt without its transactions: located by pointer, in the file itself
		}
		if loc == nil {
			loc = newLocator(e.Raw)
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
		return
	}
	if err := schema.VisitJSON(doc, openapi3.EnableFormatValidation(), openapi3.MultiErrors()); err != nil {
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
			add(relative(p), e.Path+p, "contains a NUL character, which no database stores")
		}
	})
	// The rules a schema cannot say are checked all the same (in order, by the Validator), so
	// that one run lists every kind of mistake (issue #28); a field both find is reported once.
	var err error
	switch e.Kind {
	case "servicer":
		var v Servicer
		if err = strictJSON(e.Raw, &v); err == nil {
			x.value = v
		}
	case "party":
		var v Party
		if err = strictJSON(e.Raw, &v); err == nil {
			x.value = v
		}
	case "transaction":
		var v dsop.Transaction
		if err = strictJSON(e.Raw, &v); err == nil {
			x.value = v
		}
	case "account":
		var v Account
		if err = strictJSON(e.Raw, &v); err == nil {
			x.value = v
		}
	}
}

// CheckFileWith is CheckFile with options: a change set, and loading as the file is read.
//
// Three stages run at once (issue #28: the check was 60 % of an import, on one core): the strict
// reader; the examination of each element (examine), on every core; and, in file order, the rules
// across elements (the Validator) and the loading.
func CheckFileWith(path string, o CheckOptions) (CheckResult, error) {
	res := CheckResult{Sequence: -1}
	counts := &res.Counts
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	schemas, err := elementSchemas()
	if err != nil {
		return res, err
	}
	var problems []found
	add := func(off int64, path, msg string) { problems = append(problems, found{off, path, msg}) }
	v := NewValidator()
	members := map[string]bool{}

	const batchSize, batchBytes = 256, 4 << 20
	workers := max(1, min(runtime.GOMAXPROCS(0), 8))
	batches := make(chan []examined, 2)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(batches)
		batch := make([]examined, 0, batchSize)
		held := 0
		err := Stream(bufio.NewReaderSize(f, 1<<20), func(e Element) error {
			batch = append(batch, examined{e: e})
			// A batch ends at batchSize elements or batchBytes, so that the batches in flight
			// hold a few MiB whatever the elements' sizes (each may be up to MaxElement).
			if held += len(e.Raw); len(batch) == batchSize || held >= batchBytes {
				held = 0
				select {
				case batches <- batch:
				case <-stop:
					return errStopped
				}
				batch = make([]examined, 0, batchSize)
			}
			return nil
		})
		if len(batch) > 0 && err == nil {
			select {
			case batches <- batch:
			case <-stop:
			}
		}
		readErr <- err
	}()
	// ordered handles one examined element in file order; an error stops the reading.
	ordered := func(x *examined) error {
		e := x.e
		switch e.Kind {
		case "member":
			members[e.Path] = true
			return nil
		case "invalid":
			add(e.Offset, e.Path, e.Problem)
			return nil
		case "sequence":
			n, perr := strconv.ParseInt(string(e.Raw), 10, 64)
			if perr != nil || n < 0 || (o.Delta && n < 1) {
				add(e.Offset, e.Path, "must be a whole number, at least 1 in a change set (0 or more in a full file): the number of the last change the file includes")
				return nil
			}
			res.Sequence = n
			if o.Load != nil && len(problems) == 0 {
				return o.Load(e, n)
			}
			return nil
		}
		problems = append(problems, x.problems...)
		switch val := x.value.(type) {
		case Servicer:
			v.Servicer(val)
		case Party:
			v.Party(indexOf(e.Path), val)
		case dsop.Transaction:
			v.Transaction(e.Account, indexOf(e.Path), val)
		case Account:
			v.Account(e.Account, val)
		}
		switch e.Kind {
		case "party":
			counts.Parties++
		case "transaction":
			counts.Transactions++
		case "account":
			counts.Accounts++
		}
		if x.err != nil {
			return x.err
		}
		if o.Load != nil && x.value != nil && len(problems) == 0 && len(v.errs) == 0 {
			if o.Prepare != nil {
				return o.Load(e, x.prepared)
			}
			return o.Load(e, x.value)
		}
		return nil
	}
	var loadErr error
	for batch := range batches {
		if loadErr != nil {
			continue // drain: the reader stops at its next batch
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(batch); i += workers {
					x := &batch[i]
					switch x.e.Kind {
					case "member", "invalid", "sequence":
						continue
					}
					examine(f, schemas, x)
					if o.Prepare != nil && x.value != nil && len(x.problems) == 0 {
						x.prepared, x.err = o.Prepare(x.e, x.value)
					}
				}
			}()
		}
		wg.Wait()
		for i := range batch {
			if loadErr = ordered(&batch[i]); loadErr != nil {
				close(stop)
				break
			}
		}
	}
	err = <-readErr
	if loadErr != nil {
		return res, loadErr // the loader's own failure
	}
	var se *streamError
	if errors.As(err, &se) {
		add(se.off, "/", "not a bank data file: "+err.Error())
	} else if err != nil {
		return res, err // the loader's own failure
	}
	if err == nil {
		root, err := bankDataSchema()
		if o.Delta {
			root, err = bankDataDeltaSchema()
		}
		if err != nil {
			return res, err
		}
		for _, name := range root.Required {
			if !members["/"+name] {
				add(0, "/", fmt.Sprintf("property %q is missing", name))
			}
		}
		if o.Delta && o.KnownParties != nil {
			if err := v.resolveExternal(o.KnownParties); err != nil {
				return res, err
			}
		}
		if verr := v.Err(); verr != nil {
			for _, fe := range flatten(verr) {
				l, msg, _ := strings.Cut(fe.Error(), ": ")
				add(-1, pointerOf(l), msg) // located below, by a second pass over the file
			}
		}
	}
	if len(problems) == 0 {
		return res, nil
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
		return res, err
	}
	lines, err := newLineIndex(path)
	if err != nil {
		return res, err
	}
	out := make([]Problem, 0, len(problems))
	reported := map[string]bool{}
	for _, p := range problems {
		if reported[p.path] && p.path != "/" {
			continue // the schema and a rule found the same field: one problem to fix
		}
		reported[p.path] = true
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
	res.Problems = out
	return res, nil
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
