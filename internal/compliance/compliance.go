// Package compliance is the one presentation model of the audit trail: what a case is, its calls,
// parties and accounts, which calls are anomalies, how identity numbers are masked and how a
// party is referred to without its number. The CLI (`dsop-bank audit`) and the web console
// (internal/console) both render these values; neither reads raw records to decide anything.
//
// Everything here reads the log through audit.Querier, a page at a time: a case report costs the
// case's records, a list of cases one page of calls and the cases on it, and the anomalies the
// store's grouped counts, whatever the size of the log (issue #25).
package compliance

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// Log is what compliance reads: the audit store's query interface.
type Log = audit.Querier

// MaxCaseRecords bounds what one case report reads. A real case has tens of calls; a case id
// sent by a flood may have millions, and its report then says it was cut.
const MaxCaseRecords = 5000

// Case is one AccountInfoRequestID: the calls of authenticated, allowed consumers that carried
// it, the refused calls of anyone else that named it (listed apart, counted nowhere), and the
// bank's access to it.
type Case struct {
	ID string
	// Calls are the calls of the case's consumers (audit.KindCall), oldest first.
	Calls []audit.Record
	// Unauthenticated are calls refused before a valid token of an allowed consumer: anyone can
	// send a case's id, so they prove nothing about the case and count in no total.
	Unauthenticated []audit.Record
	// Access are the console views, reveals and other access records that name the case.
	Access []audit.Record
	// From the calls only.
	Consumers, Parties, AccountNumbers []string
	// Delivered totals: accounts listed by step 2a, transactions by 2b.
	Accounts, Transactions int
	// WithheldBy maps the Seq of a call recorded as answered whose answer could not be encrypted
	// and never left to the Seq of the record that says so (audit.Record.Withholds).
	WithheldBy  map[uint64]uint64
	Statuses    map[int]int
	First, Last time.Time
	// Truncated is set when the case has more than MaxCaseRecords records: the report shows the
	// first ones and says so.
	Truncated bool
}

var errEnough = errors.New("enough records")

// LoadCase reads case id: its records, oldest first, at most MaxCaseRecords.
func LoadCase(ctx context.Context, log Log, id string) (Case, error) {
	return loadCase(ctx, log, id, MaxCaseRecords)
}

func loadCase(ctx context.Context, log Log, id string, most int) (Case, error) {
	var recs []audit.Record
	truncated := false
	err := audit.Each(ctx, log, audit.Query{Case: id, Oldest: true, Limit: min(audit.MaxLimit, most+1)}, func(r audit.Record) error {
		if len(recs) == most {
			truncated = true
			return errEnough
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return Case{}, err
	}
	c := caseOf(id, recs)
	c.Truncated = truncated
	return c, nil
}

// caseOf builds case id from its records, oldest first.
func caseOf(id string, recs []audit.Record) Case {
	c := Case{ID: id, Statuses: map[int]int{}, WithheldBy: map[uint64]uint64{}}
	parties, consumers, numbers := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		if r.Withholds != 0 {
			c.WithheldBy[r.Withholds] = r.Seq
		}
	}
	for _, r := range recs {
		switch audit.KindOf(r) {
		case audit.KindAccess:
			c.Access = append(c.Access, r)
			continue
		case audit.KindUnauthenticated:
			c.Unauthenticated = append(c.Unauthenticated, r)
			continue
		}
		c.Calls = append(c.Calls, r)
		c.Statuses[r.Status]++
		if c.First.IsZero() || r.Time.Before(c.First) {
			c.First = r.Time
		}
		if r.Time.After(c.Last) {
			c.Last = r.Time
		}
		if r.PartyID != "" {
			parties[r.PartyID] = true
		}
		consumers[r.Consumer] = true
		if !c.Delivered(r) {
			continue
		}
		for _, n := range r.AccountNumbers {
			numbers[n] = true
		}
		if r.Accounts != nil && r.Operation == "listAccounts" {
			c.Accounts += *r.Accounts
		}
		if r.Transactions != nil {
			c.Transactions += *r.Transactions
		}
	}
	c.Parties, c.Consumers = slices.Sorted(maps.Keys(parties)), slices.Sorted(maps.Keys(consumers))
	c.AccountNumbers = slices.Sorted(maps.Keys(numbers))
	return c
}

// Delivered reports whether the answer of call r left the bank: a 200 of an authenticated call
// whose answer was not withheld afterwards.
func (c Case) Delivered(r audit.Record) bool {
	_, withheld := c.WithheldBy[r.Seq]
	return r.Status == 200 && !withheld && audit.KindOf(r) == audit.KindCall
}

// CaseFilter selects cases by their calls: a case is listed when one of its calls matches.
type CaseFilter struct {
	Party, Consumer, Service string
	Status                   int
	From, Until              time.Time // a call in [From, Until)
}

// CasesPerPage is the length of a page of cases.
const CasesPerPage = 50

// maxExamined bounds the calls one page of cases examines before it returns what it has found
// (a short page, with Next set): a page costs at most this, whatever the filters.
const maxExamined = 2000

// maxRowRecords bounds what one row of a list of cases reads of its case; the case report reads
// up to MaxCaseRecords.
const maxRowRecords = 500

// CasePage is one page of cases, newest call first; Next continues it (0: no more).
type CasePage struct {
	Cases []Case
	Next  uint64
}

// ListCases returns the page of cases whose newest matching call is older than before (0: from
// the newest). It reads the matching calls newest first and each case found on the page.
func ListCases(ctx context.Context, log Log, f CaseFilter, before uint64) (CasePage, error) {
	q := audit.Query{Kind: audit.KindCall, Party: f.Party, Consumer: f.Consumer, Service: f.Service, Status: f.Status,
		From: f.From, Until: f.Until, Before: before, Limit: 200}
	var page CasePage
	seen := map[string]bool{}
	examined := 0
	for {
		p, err := log.Query(ctx, q)
		if err != nil {
			return CasePage{}, err
		}
		for _, r := range p.Records {
			examined++
			if examined > maxExamined {
				page.Next = r.Seq + 1 // a short page: this record comes next
				return page, nil
			}
			if seen[r.AccountInfoRequestID] || r.AccountInfoRequestID == "" {
				continue
			}
			seen[r.AccountInfoRequestID] = true
			if before != 0 {
				// Listed on an earlier page if it has a matching call at or after the cursor.
				later := q
				later.Case, later.Before, later.Oldest, later.After, later.Limit = r.AccountInfoRequestID, 0, true, before-1, 1
				lp, err := log.Query(ctx, later)
				if err != nil {
					return CasePage{}, err
				}
				if len(lp.Records) > 0 {
					continue
				}
			}
			c, err := loadCase(ctx, log, r.AccountInfoRequestID, maxRowRecords)
			if err != nil {
				return CasePage{}, err
			}
			page.Cases = append(page.Cases, c)
			if len(page.Cases) == CasesPerPage {
				page.Next = r.Seq
				return page, nil
			}
		}
		if p.Next == 0 {
			return page, nil
		}
		q.Before = p.Next
	}
}

// Thresholds are the limits above which Anomalies reports, and the period it looks at.
type Thresholds struct {
	PerCase, PerParty, TokenFailures int
	// Since limits the anomalies to records of this time or later (zero: the whole log).
	Since time.Time
}

// DefaultThresholds are the CLI's and the console's defaults.
func DefaultThresholds() Thresholds { return Thresholds{PerCase: 50, PerParty: 100, TokenFailures: 10} }

// Finding kinds.
const (
	PerCase       = "per-case"
	PerParty      = "per-party"
	Window        = "window"
	TokenFailures = "token-failures"
)

// Finding is one anomaly.
type Finding struct {
	Kind   string // PerCase, PerParty, Window, TokenFailures
	Case   string
	Party  string
	Client string // the address token failures came from
	Count  int
	Record *audit.Record // the refused call, for Window
}

// Anomalies streams what the standard asks banks to watch: unusually many calls per case or per
// party, calls refused for a period outside the bankruptcy window, and repeated token failures
// from one address. Counts come from the store's grouped indexes; window refusals a page at a
// time, so memory does not grow with the log.
func Anomalies(ctx context.Context, log Log, t Thresholds, fn func(Finding) error) error {
	for _, g := range []struct {
		by    audit.CountBy
		over  int
		build func(k string, n int) Finding
	}{
		{audit.CountCase, t.PerCase, func(k string, n int) Finding { return Finding{Kind: PerCase, Case: k, Count: n} }},
		{audit.CountParty, t.PerParty, func(k string, n int) Finding { return Finding{Kind: PerParty, Party: k, Count: n} }},
	} {
		if err := log.Count(ctx, audit.CountQuery{By: g.by, Over: g.over, Since: t.Since}, func(k string, n int) error { return fn(g.build(k, n)) }); err != nil {
			return err
		}
	}
	if err := audit.Each(ctx, log, audit.Query{Kind: audit.KindCall, Reason: "window", From: t.Since, Oldest: true, Limit: audit.MaxLimit}, func(r audit.Record) error {
		rec := r
		return fn(Finding{Kind: Window, Case: r.AccountInfoRequestID, Party: r.PartyID, Record: &rec})
	}); err != nil {
		return err
	}
	return log.Count(ctx, audit.CountQuery{By: audit.CountTokenFailures, Over: t.TokenFailures, Since: t.Since}, func(k string, n int) error {
		return fn(Finding{Kind: TokenFailures, Client: k, Count: n})
	})
}

// NoticeInForce describes the Konkursvarsel notice that decided a call, as recorded: the notice
// in force at the time of the call (an annulment, for a call refused because of one).
func NoticeInForce(r audit.Record) string {
	if r.NoticeUUID == "" {
		return ""
	}
	s := r.NoticeUUID
	if r.NoticeType != "" {
		s = r.NoticeType + " " + s
	}
	if r.Kjennelsesdato != "" {
		s += ", kjennelsesdato " + r.Kjennelsesdato
	}
	return s
}
