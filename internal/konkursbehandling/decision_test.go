package konkursbehandling

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// The world of the decision tests: BRREG's published test debtors with the outcomes of
// test-cases.md §2, and accounts that changed hands (T-08..T-10).
const (
	openOrg     = "910336819" // aapning 2026-06-08
	closedOrg   = "910375237" // aapning → avslutning
	annulledOrg = "910425463" // aapning → sletting
	reversed    = "19020101140"
	healthy     = "900308841" // a customer without any notice
	lateOrg     = "910491482" // published at BRREG, not yet polled (K-09)

	kjennelsesdato = "2026-06-08"
	today          = "2026-11-23"
)

var refs = accounts.NewReferencer([]byte("0123456789abcdef0123456789abcdef"))

type world struct {
	decider *Decider
	notices *konkursvarsel.MemoryStore
	late    []konkursvarsel.Notice
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := civil.MustParse
	role := func(party, from, to string) accounts.Role {
		r := accounts.Role{PartyID: party, Role: accounts.RolePrimaryOwner, StartDate: d(from)}
		if to != "" {
			r.EndDate = d(to)
		}
		return r
	}
	account := func(number string, roles ...accounts.Role) accounts.Account {
		return accounts.Account{AccountNumber: number, Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled, StartDate: d("2010-01-01"), Roles: roles}
	}
	bd := &accounts.BankData{
		Servicer: accounts.Servicer{OrganisationNumber: "900293003", Name: "Testbanken", CountryOfResidence: "NO"},
		Parties: []accounts.Party{{ID: openOrg, Name: "Open AS"}, {ID: closedOrg, Name: "Closed AS"}, {ID: annulledOrg, Name: "Annulled AS"},
			{ID: reversed, Name: "Reversed Person"}, {ID: healthy, Name: "Healthy AS"}, {ID: lateOrg, Name: "Late AS"}},
		Accounts: []accounts.Account{
			account("15030000011", role(openOrg, "2010-01-01", "")),                                            // owned throughout
			account("15030000012", role(openOrg, "2010-01-01", "2026-11-02"), role(healthy, "2026-11-03", "")), // T-08
			account("15030000013", role(healthy, "2010-01-01", "2026-02-28"), role(openOrg, "2026-03-01", "")), // T-09
			account("15030000014", role(openOrg, "2018-01-01", ""), role(healthy, "2018-01-01", "")),           // T-10 joint
			account("15030000015", role(openOrg, "2010-01-01", "2025-05-31"), role(healthy, "2025-06-01", "")), // owned only before
			account("15030000016", role(openOrg, "2010-01-01", "2025-12-31"), role(healthy, "2026-01-01", "2026-05-31"), role(openOrg, "2026-06-01", "")),
			account("15030000021", role(annulledOrg, "2010-01-01", "")),
			account("15030000022", role(closedOrg, "2010-01-01", "")),
			account("15030000023", role(healthy, "2010-01-01", "")),
			account("15030000024", role(lateOrg, "2010-01-01", "")),
			{AccountNumber: "15030000025", Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Enabled, StartDate: d("2010-01-01"),
				Roles: []accounts.Role{role(healthy, "2010-01-01", ""), {PartyID: openOrg, Role: accounts.RoleDisponent, StartDate: d("2010-01-01")}}},
		},
	}
	require.NoError(t, bd.Validate())
	w := &world{notices: konkursvarsel.NewMemoryStore()}
	_, err := w.notices.Apply(context.Background(), []konkursvarsel.Notice{
		notice("00000000-0000-4000-8000-000000000001", konkursvarsel.Aapning, "2026-06-08T10:00:00Z", openOrg, kjennelsesdato),
		notice("00000000-0000-4000-8000-000000000002", konkursvarsel.Aapning, "2026-01-05T10:00:00Z", closedOrg, "2026-01-05"),
		notice("00000000-0000-4000-8000-000000000003", konkursvarsel.Avslutning, "2026-09-01T10:00:00Z", closedOrg, ""),
		notice("00000000-0000-4000-8000-000000000004", konkursvarsel.Aapning, "2026-03-01T10:00:00Z", annulledOrg, "2026-03-01"),
		notice("00000000-0000-4000-8000-000000000005", konkursvarsel.Sletting, "2026-03-02T10:00:00Z", annulledOrg, ""),
		notice("00000000-0000-4000-8000-000000000006", konkursvarsel.Aapning, "2026-04-01T10:00:00Z", reversed, "2026-04-01"),
		notice("00000000-0000-4000-8000-000000000007", konkursvarsel.Oppheving, "2026-04-02T10:00:00Z", reversed, ""),
	})
	require.NoError(t, err)
	w.late = []konkursvarsel.Notice{notice("00000000-0000-4000-8000-000000000008", konkursvarsel.Aapning, "2026-11-23T08:50:00Z", lateOrg, today)}
	gate := &Gate{Store: w.notices, OnDemandEvery: 0, OnDemand: func(ctx context.Context) error {
		_, err := w.notices.Apply(ctx, w.late)
		return err
	}}
	w.decider = &Decider{Bankruptcies: gate, Accounts: accounts.NewMemoryStore(bd, refs)}
	return w
}

// request runs the request check of internal/validation on the dates (as the HTTP layer does
// before it asks for the decision), then the step 2a decision.
func (w *world) forParty(party, from, to string) (Decision, []accounts.Holding, error) {
	p, err := validation.CheckPeriod(civil.MustParse(from), civil.MustParse(to), civil.MustParse(today), validation.ToDateNotInFuture)
	if err != nil {
		return Decision{}, nil, err
	}
	return w.decider.ForParty(context.Background(), party, p)
}

func (w *world) forAccount(number, from, to string) (Decision, accounts.Holding, error) {
	p := civil.Period{From: civil.MustParse(from), To: civil.MustParse(to)}
	return w.decider.ForAccount(context.Background(), refs.Reference(number), p)
}

type outcome int

const (
	allowed outcome = iota
	badParam
	window
	refused
	notFound
)

func classify(t *testing.T, err error) outcome {
	t.Helper()
	var (
		pe *validation.ParamError
		we *WindowError
		re *RefusedError
	)
	switch {
	case err == nil:
		return allowed
	case errors.As(err, &pe):
		return badParam
	case errors.As(err, &we):
		return window
	case errors.As(err, &re):
		return refused
	case errors.Is(err, accounts.ErrAccountNotFound):
		return notFound
	}
	t.Fatalf("unexpected error %v", err)
	return -1
}

// TestDecision_BankruptcyAndWindow covers every row of test-cases.md §3.4 without HTTP.
func TestDecision_BankruptcyAndWindow(t *testing.T) {
	earliest := "2025-06-08" // kjennelsesdato − 12 months
	for _, tc := range []struct {
		id, party, from, to string
		want                outcome
	}{
		{"K-01 open aapning, fromDate = K − 12 months, toDate today", openOrg, earliest, today, allowed},
		{"K-02 fromDate = K − 12 months − 1 day", openOrg, "2025-06-07", today, window},
		{"K-03 toDate tomorrow", openOrg, earliest, "2026-11-24", badParam},
		{"K-04 fromDate after toDate", openOrg, "2026-11-23", "2026-11-22", badParam},
		{"K-05 party without any notice", healthy, earliest, today, refused},
		{"K-06 opening annulled (sletting)", annulledOrg, "2025-11-23", today, refused},
		{"K-07 opening reversed (oppheving)", reversed, "2025-11-23", today, refused},
		{"K-08 proceedings closed (avslutning)", closedOrg, "2025-11-23", today, refused},
		{"K-09 notice not yet polled: on-demand sync, then allowed", lateOrg, "2025-11-23", today, allowed},
	} {
		t.Run(tc.id, func(t *testing.T) {
			w := newWorld(t)
			dec, _, err := w.forParty(tc.party, tc.from, tc.to)
			require.Equal(t, tc.want, classify(t, err), "%v", err)
			if tc.want == allowed || tc.want == window {
				require.Equal(t, tc.party, dec.Party)
				require.NotEmpty(t, dec.Bankruptcy.OpeningUUID, "the decision names the notice that justifies it")
			}
		})
	}
	t.Run("K-10 2b for an account whose party was annulled after step 2a", func(t *testing.T) {
		w := newWorld(t)
		dec, _, err := w.forAccount("15030000021", "2025-11-23", today)
		require.Equal(t, refused, classify(t, err), "%v", err)
		require.Equal(t, annulledOrg, dec.Party, "the audit log learns whose account it was")
	})
	t.Run("2b window is checked against the re-derived party", func(t *testing.T) {
		w := newWorld(t)
		_, _, err := w.forAccount("15030000011", "2025-06-07", today)
		require.Equal(t, window, classify(t, err), "%v", err)
	})
}

func spells(h accounts.Holding) []string {
	var out []string
	for _, s := range h.Spells {
		out = append(out, s.String())
	}
	return out
}

// TestDecision_OwnershipClipping covers T-08..T-10 and the other shapes of konkursbehandling-
// rules.md §4.1 for both steps.
func TestDecision_OwnershipClipping(t *testing.T) {
	from := "2025-10-14"
	w := newWorld(t)
	dec, holdings, err := w.forParty(openOrg, from, today)
	require.NoError(t, err)
	require.Equal(t, kjennelsesdato, dec.Bankruptcy.Kjennelsesdato.String())
	got := map[string][]string{}
	for _, h := range holdings {
		got[h.Account.AccountNumber] = spells(h)
	}
	want := map[string][]string{
		"15030000011": {"2025-10-14/2026-11-23"},
		"15030000012": {"2025-10-14/2026-11-02"}, // T-08
		"15030000013": {"2026-03-01/2026-11-23"}, // T-09
		"15030000014": {"2025-10-14/2026-11-23"}, // T-10
		"15030000016": {"2025-10-14/2025-12-31", "2026-06-01/2026-11-23"},
	}
	require.Equal(t, want, got, "owned only before the period (…15) and disponent (…25) are not listed")

	for number, wantSpells := range want {
		dec, h, err := w.forAccount(number, from, today)
		require.NoError(t, err, number)
		require.Equal(t, openOrg, dec.Party, "%s: the bankrupt owner, never the healthy co-owner or next owner", number)
		require.Equal(t, wantSpells, spells(h), number)
	}
	for _, number := range []string{"15030000015", "15030000025", "15030000023"} {
		_, _, err := w.forAccount(number, from, today)
		require.Equal(t, notFound, classify(t, err), "%s: %v", number, err)
	}
	_, _, err = w.decider.ForAccount(context.Background(), "no-such-reference", civil.Period{From: civil.MustParse(from), To: civil.MustParse(today)})
	require.ErrorIs(t, err, accounts.ErrAccountNotFound)

	// T-08 from the next owner's side: a period entirely after the debtor left is not found.
	_, _, err = w.forAccount("15030000012", "2026-11-03", today)
	require.Equal(t, notFound, classify(t, err), "%v", err)
}

// separateReads reads an account and its owners' notices from the stores the world's decider
// reads one by one: OwnerNotices as the PostgreSQL store gives it in one statement.
type separateReads struct {
	accounts Accounts
	notices  NoticeStore
}

func (s separateReads) AccountWithOwnerNotices(ctx context.Context, ref string) (accounts.StoredAccount, map[string][]konkursvarsel.Notice, error) {
	a, err := s.accounts.AccountByReference(ctx, ref)
	if err != nil {
		return a, nil, err
	}
	out := map[string][]konkursvarsel.Notice{}
	for _, owner := range PrimaryOwners(a) {
		if out[owner], err = s.notices.NoticesFor(ctx, owner); err != nil {
			return a, nil, err
		}
	}
	return a, out, nil
}

// Step 2b decides the same whether the owners' notices are read with the account
// (Decider.OwnerNotices) or each when its owner is checked: every account of the world, over
// periods before, across and after changes of hands, the window's edge, and the on-demand sync
// of a notice not yet polled (each path in a world of its own, since the sync changes it).
func TestDecision_StepTwoBSameWithOwnerNoticesReadFirst(t *testing.T) {
	periods := [][2]string{{"2025-06-08", today}, {"2025-06-07", today}, {"2025-10-14", today}, {"2026-11-03", today},
		{"2026-01-01", "2026-05-31"}, {"2025-01-01", "2025-05-31"}}
	numbers := []string{"15030000011", "15030000012", "15030000013", "15030000014", "15030000015", "15030000016",
		"15030000021", "15030000022", "15030000023", "15030000024", "15030000025", "15039999999"}
	type result struct {
		outcome outcome
		dec     Decision
		spells  []string
	}
	decide := func(t *testing.T, readFirst bool, number string, p [2]string) result {
		w := newWorld(t)
		if readFirst {
			w.decider.OwnerNotices = separateReads{accounts: w.decider.Accounts, notices: w.notices}
		}
		dec, h, err := w.forAccount(number, p[0], p[1])
		return result{classify(t, err), dec, spells(h)}
	}
	seen := map[outcome]bool{}
	for _, number := range numbers {
		for _, p := range periods {
			want := decide(t, false, number, p)
			require.Equal(t, want, decide(t, true, number, p), "account %s, %s/%s", number, p[0], p[1])
			seen[want.outcome] = true
		}
	}
	require.Equal(t, map[outcome]bool{allowed: true, window: true, refused: true, notFound: true}, seen, "the table reaches every outcome")
	require.Equal(t, allowed, decide(t, true, "15030000024", [2]string{"2025-11-23", today}).outcome, "K-09 in step 2b: synced on demand, then allowed")
}
