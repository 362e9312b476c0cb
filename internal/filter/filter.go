// Package filter decides, field by field, what leaves the server: each DSOP service's delivery
// tables are a CSV file declared with the service (internal/dsopservice: konkursbehandling.csv,
// oed.csv; konkursbehandling-rules.md §4), and Policy applies one of them to every response body. A field that no row lists never leaves (deny by default),
// so a field added to the data model later stays inside until someone classifies it.
package filter

import (
	"encoding/csv"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// Category is a Konkursbehandling delivery category (§4.1).
type Category string

// The five categories.
const (
	TekniskObligatorisk Category = "teknisk-obligatorisk" // always
	SkalUtleveres       Category = "skal-utleveres"       // emit when the bank has it
	KanFiltreresBort    Category = "kan-filtreres-bort"   // bank's choice
	UtleveresIkke       Category = "utleveres-ikke"       // never
	TilVurdering        Category = "til-vurdering"        // bank's choice, default from the file
)

// Endpoints, as the first column of a delivery table names them (dsopservice.Endpoint).
const (
	EndpointAccounts     = "accounts"
	EndpointAccount      = "account"
	EndpointTransactions = "transactions"
	EndpointCards        = "cards" // only in the tables of a service that allows Cards
	EndpointRoles        = "roles" // only in the tables of a service that allows Roles
)

// Rule is one row of the delivery tables.
type Rule struct {
	Endpoint string
	Path     string
	Common   string // M, D or MC
	Category Category
	Emit     bool // resolved: default of the file, then the bank's overrides
}

// Configurable reports whether a bank may switch the field on or off.
func (r Rule) Configurable() bool {
	return r.Category == TilVurdering || r.Category == KanFiltreresBort
}

// Overrides are the bank's choices for configurable fields, as "endpoint:path" (for example
// "account:account.name" or "transactions:transactions.merchant").
type Overrides struct {
	Emit []string `json:"emit"`
	Omit []string `json:"omit"`
}

// Rules reads Konkursbehandling's delivery tables (the default service).
func Rules() ([]Rule, error) { return ParseTable(dsopservice.Konkursbehandling().Delivery) }

// ParseTable reads a service's delivery tables (the CSV of internal/dsopservice).
func ParseTable(table string) ([]Rule, error) {
	r := csv.NewReader(strings.NewReader(table))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("delivery.csv: %w", err)
	}
	var out []Rule
	for i, row := range rows[1:] {
		if len(row) != 5 {
			return nil, fmt.Errorf("delivery.csv row %d: want 5 columns", i+2)
		}
		c := Category(row[3])
		if !slices.Contains([]Category{TekniskObligatorisk, SkalUtleveres, KanFiltreresBort, UtleveresIkke, TilVurdering}, c) {
			return nil, fmt.Errorf("delivery.csv row %d: unknown category %q", i+2, row[3])
		}
		emit := row[4] == "emit"
		switch c {
		case TekniskObligatorisk, SkalUtleveres:
			emit = true
		case UtleveresIkke:
			emit = false
		}
		out = append(out, Rule{Endpoint: row[0], Path: row[1], Common: row[2], Category: c, Emit: emit})
	}
	return out, nil
}

// Policy applies the delivery rules to response bodies. It is immutable after New and safe for
// concurrent use.
type Policy struct {
	rules       []Rule
	plans       map[string]*plan // endpoint → plan of its response type
	fingerprint string
}

// New compiles Konkursbehandling's delivery tables (the default service) with the bank's
// overrides.
func New(o Overrides) (*Policy, error) { return NewTable(dsopservice.Konkursbehandling().Delivery, o) }

// NewTable compiles a service's delivery tables with the bank's overrides. It refuses an
// override of a field that is not configurable (technically mandatory or never delivered) or
// that no table lists.
func NewTable(table string, o Overrides) (*Policy, error) {
	rules, err := ParseTable(table)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, r := range rules {
		idx[r.Endpoint+":"+r.Path] = i
	}
	var problems []string
	set := func(names []string, emit bool) {
		for _, n := range names {
			i, ok := idx[n]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%q is not a field of the delivery tables (use endpoint:path, e.g. account:account.name)", n))
			case !rules[i].Configurable():
				problems = append(problems, fmt.Sprintf("%q is %s and cannot be configured", n, rules[i].Category))
			default:
				rules[i].Emit = emit
			}
		}
	}
	set(o.Emit, true)
	set(o.Omit, false)
	if len(problems) > 0 {
		return nil, fmt.Errorf("field policy: %s", strings.Join(problems, "; "))
	}
	if len(rules) > maxRules {
		return nil, fmt.Errorf("delivery.csv: %d rows, a FieldSet holds %d", len(rules), maxRules)
	}
	p := &Policy{rules: rules, plans: map[string]*plan{}, fingerprint: fingerprint(rules)}
	for ep, t := range map[string]reflect.Type{
		EndpointAccounts:     reflect.TypeFor[dsop.Accounts](),
		EndpointAccount:      reflect.TypeFor[dsop.AccountDetails](),
		EndpointTransactions: reflect.TypeFor[dsop.Transactions](),
		EndpointCards:        reflect.TypeFor[dsop.Cards](),
		EndpointRoles:        reflect.TypeFor[dsop.Roles](),
	} {
		if (ep == EndpointCards || ep == EndpointRoles) && !slices.ContainsFunc(rules, func(r Rule) bool { return r.Endpoint == ep }) {
			continue // the service does not deliver this endpoint: Apply refuses it
		}
		c := compiler{rules: rules, endpoint: ep, used: map[int]bool{}}
		p.plans[ep] = c.compile(t, "")
		for i, r := range rules {
			if r.Endpoint == ep && !c.used[i] {
				return nil, fmt.Errorf("delivery.csv: %s:%s is not a field of the response", ep, r.Path)
			}
		}
	}
	return p, nil
}

// Rules returns the resolved rules (for documentation and the startup log).
func (p *Policy) Rules() []Rule { return slices.Clone(p.rules) }

// Apply filters body in place and returns the sorted list of field paths delivered. body must be
// a pointer to dsop.Accounts, dsop.AccountDetails or dsop.Transactions that the caller owns;
// nested values it shares with a store are copied before they are changed, never modified.
func (p *Policy) Apply(endpoint string, body any) ([]string, error) {
	pl, ok := p.plans[endpoint]
	v := reflect.ValueOf(body)
	if !ok || v.Kind() != reflect.Pointer || v.Elem().Type() != pl.typ {
		return nil, fmt.Errorf("filter: no plan for %s %T", endpoint, body)
	}
	delivered := make([]bool, len(p.rules))
	pl.apply(v.Elem(), delivered)
	var out []string
	for i, d := range delivered {
		if d {
			out = append(out, p.rules[i].Path)
		}
	}
	sort.Strings(out)
	return out, nil
}

type fieldKind int

const (
	kindLeaf fieldKind = iota
	kindStruct
	kindPtrStruct
	kindPtrSliceStruct
	kindSliceStruct
)

type fieldPlan struct {
	index     int
	kind      fieldKind
	emit      bool // leaf: delivered?
	required  bool // schema-required: omitting it drops the parent object
	rule      int  // index into rules, -1 if unlisted
	child     *plan
	transform func(reflect.Value)
}

type plan struct {
	typ    reflect.Type
	fields []fieldPlan
	// identity: nothing in this subtree is ever removed or rewritten, so values are only read
	// (to list the delivered fields), never copied.
	identity bool
}

type compiler struct {
	rules    []Rule
	endpoint string
	used     map[int]bool
}

func (c *compiler) compile(t reflect.Type, path string) *plan {
	pl := &plan{typ: t}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fp := name
		if path != "" {
			fp = path + "." + name
		}
		fpl := fieldPlan{index: i, rule: -1, required: !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer}
		if ri := c.rule(fp); ri >= 0 {
			c.used[ri] = true
			fpl.kind, fpl.rule, fpl.emit = kindLeaf, ri, c.rules[ri].Emit
			if fp == "transactions.paymentCard.cardIdentifier" {
				fpl.transform = maskCardValue
			}
		} else if c.hasChildren(fp) {
			switch ft := f.Type; {
			case ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[dsop.Accounts]().PkgPath():
				fpl.kind, fpl.child = kindStruct, c.compile(ft, fp)
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
				fpl.kind, fpl.child = kindPtrStruct, c.compile(ft.Elem(), fp)
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Slice && ft.Elem().Elem().Kind() == reflect.Struct:
				fpl.kind, fpl.child = kindPtrSliceStruct, c.compile(ft.Elem().Elem(), fp)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				fpl.kind, fpl.child = kindSliceStruct, c.compile(ft.Elem(), fp)
			default:
				fpl.kind, fpl.emit = kindLeaf, false
			}
		} else {
			fpl.kind, fpl.emit = kindLeaf, false // not in any table: never delivered
		}
		pl.fields = append(pl.fields, fpl)
	}
	pl.identity = true
	for _, f := range pl.fields {
		if (f.kind == kindLeaf && (!f.emit || f.transform != nil)) || (f.child != nil && !f.child.identity) {
			pl.identity = false
		}
	}
	return pl
}

// mark lists the delivered fields of a subtree that is delivered as it is.
func (pl *plan) mark(v reflect.Value, delivered []bool) {
	for i := range pl.fields {
		f := &pl.fields[i]
		fv := v.Field(f.index)
		switch f.kind {
		case kindLeaf:
			if f.rule >= 0 && (f.required || !fv.IsZero()) {
				delivered[f.rule] = true
			}
		case kindStruct:
			f.child.mark(fv, delivered)
		case kindPtrStruct:
			if !fv.IsNil() {
				f.child.mark(fv.Elem(), delivered)
			}
		case kindPtrSliceStruct, kindSliceStruct:
			if f.kind == kindPtrSliceStruct {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			for j := 0; j < fv.Len(); j++ {
				f.child.mark(fv.Index(j), delivered)
			}
		}
	}
}

func (c *compiler) rule(path string) int {
	for i, r := range c.rules {
		if r.Endpoint == c.endpoint && r.Path == path {
			return i
		}
	}
	return -1
}

func (c *compiler) hasChildren(path string) bool {
	for _, r := range c.rules {
		if r.Endpoint == c.endpoint && strings.HasPrefix(r.Path, path+".") {
			return true
		}
	}
	return false
}

// apply filters the struct v (addressable, owned by the caller) and reports whether it may be
// kept: false when a schema-required field had to be omitted, which can only be honoured by
// omitting the whole object (§4.1 "Filtering granularity").
func (pl *plan) apply(v reflect.Value, delivered []bool) bool {
	for i := range pl.fields {
		f := &pl.fields[i]
		fv := v.Field(f.index)
		switch f.kind {
		case kindLeaf:
			if !f.emit {
				if f.required {
					return false
				}
				fv.SetZero()
				continue
			}
			if f.transform != nil {
				f.transform(fv)
			}
			if f.rule >= 0 && (f.required || !fv.IsZero()) {
				delivered[f.rule] = true
			}
		case kindStruct:
			if !f.child.apply(fv, delivered) {
				return false
			}
		case kindPtrStruct:
			if fv.IsNil() {
				continue
			}
			if f.child.identity {
				if fv.Elem().IsZero() {
					fv.SetZero()
				} else {
					f.child.mark(fv.Elem(), delivered)
				}
				continue
			}
			cp := reflect.New(fv.Type().Elem())
			cp.Elem().Set(fv.Elem())
			if f.child.keep(cp.Elem(), delivered) {
				fv.Set(cp)
			} else {
				fv.SetZero()
			}
		case kindPtrSliceStruct:
			if fv.IsNil() {
				continue
			}
			out := f.child.filterSlice(fv.Elem(), delivered)
			sp := reflect.New(out.Type())
			sp.Elem().Set(out)
			fv.Set(sp)
		case kindSliceStruct:
			if !fv.IsNil() {
				fv.Set(f.child.filterSlice(fv, delivered))
			}
		}
	}
	return true
}

// keep filters the object v and reports whether it is delivered: not dropped for a required
// field and not empty. Only a delivered object's fields are listed as delivered.
func (pl *plan) keep(v reflect.Value, delivered []bool) bool {
	mine := make([]bool, len(delivered))
	if !pl.apply(v, mine) || v.IsZero() {
		return false
	}
	for i, d := range mine {
		delivered[i] = delivered[i] || d
	}
	return true
}

// filterSlice returns a new slice with filtered copies of the elements that may be kept (the
// slice itself when nothing in its elements is ever removed or rewritten).
func (pl *plan) filterSlice(s reflect.Value, delivered []bool) reflect.Value {
	if pl.identity {
		keep := true
		for j := 0; j < s.Len() && keep; j++ {
			keep = !s.Index(j).IsZero()
		}
		if keep {
			for j := 0; j < s.Len(); j++ {
				pl.mark(s.Index(j), delivered)
			}
			return s
		}
	}
	out := reflect.MakeSlice(s.Type(), 0, s.Len())
	for j := 0; j < s.Len(); j++ {
		el := reflect.New(pl.typ).Elem()
		el.Set(s.Index(j))
		if pl.keep(el, delivered) {
			out = reflect.Append(out, el)
		}
	}
	return out
}

func maskCardValue(v reflect.Value) {
	if v.Kind() == reflect.String {
		v.SetString(MaskCardNumber(v.String()))
	}
}

// MaskCardNumber masks a payment card number as PCI DSS and the standard require: at most the
// first 6 and the last 4 digits in clear, every other character X, no spaces
// (konkursbehandling-rules.md §4.4). Numbers too short to keep 10 digits show only the last 4.
func MaskCardNumber(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '-' {
			b = append(b, c)
		}
	}
	n := len(b)
	keepHead, keepTail := 6, 4
	if n < 13 {
		keepHead = 0
	}
	if n <= keepTail {
		keepTail = 0
	}
	for i := range b {
		if i < keepHead || i >= n-keepTail {
			if b[i] < '0' || b[i] > '9' {
				b[i] = 'X'
			}
			continue
		}
		b[i] = 'X'
	}
	return string(b)
}
