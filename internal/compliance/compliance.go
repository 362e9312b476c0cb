// Package compliance computes what the bank's compliance officers ask of the audit log: the
// cases (one AccountInfoRequestID each) with every call and its legal basis, the anomalies the
// standard asks banks to watch, and the log's own access records. The CLI (`dsop-bank audit`) and
// the web console (internal/console) both present these; neither computes them.
package compliance

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// Access reports whether a record is the bank's own access to the log (a reveal, a console view,
// an acknowledgement, a verification) rather than a call of the API: such records name a case
// but are no call of it.
func Access(r audit.Record) bool {
	return strings.HasPrefix(r.Operation, "console.") || strings.HasPrefix(r.Operation, "audit.")
}

// Case is one AccountInfoRequestID: every call of the API that carried it, in order, and the
// bank's access to it.
type Case struct {
	ID    string
	Calls []audit.Record
	// Access are the console views, reveals and other access records that name the case.
	Access []audit.Record
	// Anonymous counts calls refused before a valid token: anyone can send a case's id, so they
	// are listed but not counted in Consumers, Parties or the delivered totals.
	Anonymous int
	Consumers []string
	Parties   []string
	// Delivered totals: accounts listed by step 2a, transactions by 2b.
	Accounts, Transactions int
	// WithheldBy maps the Seq of a call recorded as answered whose answer could not be encrypted
	// and never left to the Seq of the record that says so (audit.Record.Withholds).
	WithheldBy  map[uint64]uint64
	Statuses    map[int]int
	First, Last time.Time
}

// CaseOf builds the case id from recs (records of any case; the others are ignored).
func CaseOf(id string, recs []audit.Record) Case {
	c := Case{ID: id, Statuses: map[int]int{}, WithheldBy: map[uint64]uint64{}}
	parties, consumers := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		if r.AccountInfoRequestID == id && r.Withholds != 0 {
			c.WithheldBy[r.Withholds] = r.Seq
		}
	}
	for _, r := range recs {
		if r.AccountInfoRequestID != id {
			continue
		}
		if Access(r) {
			c.Access = append(c.Access, r)
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
		if r.Consumer == "" {
			c.Anonymous++
			continue
		}
		if r.PartyID != "" {
			parties[r.PartyID] = true
		}
		consumers[r.Consumer] = true
		if !c.Delivered(r) {
			continue
		}
		if r.Accounts != nil && r.Operation == "listAccounts" {
			c.Accounts += *r.Accounts
		}
		if r.Transactions != nil {
			c.Transactions += *r.Transactions
		}
	}
	c.Parties, c.Consumers = slices.Sorted(maps.Keys(parties)), slices.Sorted(maps.Keys(consumers))
	return c
}

// Delivered reports whether the answer of call r left the bank: a 200 whose answer was not
// withheld afterwards.
func (c Case) Delivered(r audit.Record) bool {
	_, withheld := c.WithheldBy[r.Seq]
	return r.Status == 200 && !withheld
}

// Query selects cases. Empty fields match everything; Party and Consumer match exactly, ID
// matches a prefix (a case id is a UUID, and officers paste the start of one).
type Query struct {
	ID, Party, Consumer string
	Status              int
	From, Until         time.Time // the case has a call in [From, Until)
}

// Cases returns the cases that match q, newest last call first.
func Cases(recs []audit.Record, q Query) []Case {
	byID := map[string][]audit.Record{}
	for _, r := range recs {
		if r.AccountInfoRequestID != "" {
			byID[r.AccountInfoRequestID] = append(byID[r.AccountInfoRequestID], r)
		}
	}
	var out []Case
	for id, rs := range byID {
		if !strings.HasPrefix(id, q.ID) {
			continue
		}
		c := CaseOf(id, rs)
		if len(c.Calls) == 0 || !c.matches(q) {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.After(out[j].Last)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (c Case) matches(q Query) bool {
	if q.Party != "" && !slices.Contains(c.Parties, q.Party) {
		return false
	}
	if q.Consumer != "" && !slices.Contains(c.Consumers, q.Consumer) {
		return false
	}
	if q.Status != 0 && c.Statuses[q.Status] == 0 {
		return false
	}
	if q.From.IsZero() && q.Until.IsZero() {
		return true
	}
	for _, r := range c.Calls {
		if (q.From.IsZero() || !r.Time.Before(q.From)) && (q.Until.IsZero() || r.Time.Before(q.Until)) {
			return true
		}
	}
	return false
}

// Thresholds are the limits above which Anomalies reports.
type Thresholds struct {
	PerCase, PerParty, TokenFailures int
}

// DefaultThresholds are the CLI's and the console's defaults.
func DefaultThresholds() Thresholds { return Thresholds{PerCase: 50, PerParty: 100, TokenFailures: 10} }

// Finding is one anomaly.
type Finding struct {
	Kind     string // per-case, per-party, window, token-failures
	Case     string // the case it concerns, if one
	Party    string
	Consumer string
	Count    int
	Record   *audit.Record // the refused request, for window findings
}

// Anomalies flags what the standard asks banks to watch: unusually many requests per case or per
// party, refused requests outside the bankruptcy window, and repeated token failures.
func Anomalies(recs []audit.Record, t Thresholds) []Finding {
	byCase, byParty, tokens := map[string]int{}, map[string]int{}, map[string]int{}
	var out, window []Finding
	for _, r := range recs {
		if Access(r) {
			continue
		}
		if r.AccountInfoRequestID != "" {
			byCase[r.AccountInfoRequestID]++
		}
		if r.PartyID != "" {
			byParty[r.PartyID]++
		}
		if r.Reason == "window" {
			rec := r
			window = append(window, Finding{Kind: "window", Case: r.AccountInfoRequestID, Party: r.PartyID, Record: &rec})
		}
		if strings.HasPrefix(r.Reason, "token:") {
			c := r.Consumer
			if c == "" {
				c = "(unauthenticated)"
			}
			tokens[c]++
		}
	}
	for _, k := range slices.Sorted(maps.Keys(byCase)) {
		if byCase[k] > t.PerCase {
			out = append(out, Finding{Kind: "per-case", Case: k, Count: byCase[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(byParty)) {
		if byParty[k] > t.PerParty {
			out = append(out, Finding{Kind: "per-party", Party: k, Count: byParty[k]})
		}
	}
	out = append(out, window...)
	for _, k := range slices.Sorted(maps.Keys(tokens)) {
		if tokens[k] > t.TokenFailures {
			out = append(out, Finding{Kind: "token-failures", Consumer: k, Count: tokens[k]})
		}
	}
	return out
}
