package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// The real consumer's time budgets (kontrollinformasjon-api.md §7.1): 30 s for the account list,
// 30 s for each account's details, and one 30 s budget for all transaction pages of an account.
const budget = 30 * time.Second

// maxPages stops a bank whose next links never end.
const maxPages = 10000

// partyFlow is step 2a → 2b for one test party, as the consumer does it.
// maxDetails is how many details requests the kit has in flight at once.
const maxDetails = 64

type partyFlow struct {
	party    Party
	caseID   string
	from, to civil.Date
	list     *exchange
	listErr  error    // why the list could not be read
	refs     []string // accountReference of every listed account
	details  []*exchange
	paging   []*paging
}

// paging is every page of one account's transactions.
type paging struct {
	ref    string
	pages  []*exchange
	counts []int
	next   []bool
	ids    []string
	err    error // why paging stopped early
}

type page struct {
	Transactions []struct {
		TransactionIdentifier string `json:"transactionIdentifier"`
	} `json:"transactions"`
	Links []struct {
		Rel  string `json:"rel"`
		Href string `json:"href"`
	} `json:"links"`
}

// runFlow runs the consumer's flow for every test party, once per run.
func (k *kit) runFlow(ctx context.Context) []*partyFlow {
	k.flowOnce.Do(func() {
		for _, p := range k.o.Parties {
			k.flow = append(k.flow, k.partyFlow(ctx, p))
		}
	})
	return k.flow
}

func (k *kit) partyFlow(ctx context.Context, p Party) *partyFlow {
	f := &partyFlow{party: p, caseID: uuid.NewString(), from: k.earliest(p), to: k.today}
	period := "fromDate=" + f.from.String() + "&toDate=" + f.to.String()
	lctx, cancel := context.WithTimeout(ctx, budget)
	f.list = k.do(lctx, request{url: k.url("accounts?OnlyPrimaryOwner=true&" + period), party: p.ID, caseID: f.caseID})
	cancel()
	if f.list.Err != nil || f.list.Status != 200 || f.list.Plain == nil {
		f.listErr = fmt.Errorf("step 2a: %s", f.list.describe())
		return f
	}
	var list struct {
		Accounts []struct {
			AccountReference string `json:"accountReference"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(f.list.Plain, &list); err != nil {
		f.listErr = fmt.Errorf("step 2a body: %w", err)
		return f
	}
	for _, a := range list.Accounts {
		f.refs = append(f.refs, a.AccountReference)
	}
	// Details of every account at once, as the real client asks — but at most maxDetails in
	// flight, so that a hostile bank listing thousands of accounts cannot make the kit hold them
	// all (issue #27: 3.2 GB for 400 accounts).
	f.details = make([]*exchange, len(f.refs))
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxDetails)
	for i, ref := range f.refs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			dctx, cancel := context.WithTimeout(ctx, budget)
			defer cancel()
			f.details[i] = k.do(dctx, request{url: k.url("accounts/" + url.PathEscape(ref) + "?" + period), caseID: f.caseID})
		})
	}
	wg.Wait()
	for _, ref := range f.refs {
		f.paging = append(f.paging, k.pageAll(ctx, ref, f.from, f.to, f.caseID))
	}
	return f
}

// pageAll fetches every transaction page of an account, following next as the consumer does,
// with a new CorrelationID for each page and one 30 s budget for them all.
func (k *kit) pageAll(ctx context.Context, ref string, from, to civil.Date, caseID string) *paging {
	pg := &paging{ref: ref}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	target := k.url("accounts/" + url.PathEscape(ref) + "/transactions?fromDate=" + from.String() + "&toDate=" + to.String())
	seen := map[string]bool{}
	for n := 0; target != ""; n++ {
		if n == maxPages {
			pg.err = fmt.Errorf("more than %d pages", maxPages)
			return pg
		}
		if seen[target] {
			pg.err = errors.New("a next link points back to a page already read")
			return pg
		}
		seen[target] = true
		ex := k.do(ctx, request{url: target, caseID: caseID})
		pg.pages = append(pg.pages, ex)
		if ex.Err != nil || ex.Status != 200 || ex.Plain == nil {
			pg.err = fmt.Errorf("page %d: %s", n+1, ex.describe())
			if ctx.Err() != nil {
				pg.err = fmt.Errorf("page %d: the 30 s budget for all pages of the account ran out", n+1)
			}
			return pg
		}
		var body page
		if err := json.Unmarshal(ex.Plain, &body); err != nil {
			pg.err = fmt.Errorf("page %d: %w", n+1, err)
			return pg
		}
		pg.counts = append(pg.counts, len(body.Transactions))
		for _, t := range body.Transactions {
			pg.ids = append(pg.ids, t.TransactionIdentifier)
		}
		target = ""
		for _, l := range body.Links {
			if strings.EqualFold(l.Rel, "next") {
				target = k.url(l.Href)
			}
		}
		pg.next = append(pg.next, target != "")
	}
	return pg
}
