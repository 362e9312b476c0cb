package bench

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
)

// Parties of the scale bank (issue #31). Each has an open bankruptcy.
const (
	probeDebtor = "910336819" // 10 accounts × 3 000 transactions, and one of 60 000 (deep pages)
	runDebtor   = "910491482" // 200 accounts × 5 000 transactions: plugin-banking's run
	bigOwner    = "910425463" // one account of 1 000 000 transactions
	fillerOwner = "900308841" // healthy: the rest of the bank, one account per 333 transactions
)

// scaleBank is a PostgreSQL bank grown in steps, with the server's handler over it.
type scaleBank struct {
	t       *testing.T
	pool    *pgxpool.Pool
	refs    accounts.Referencer
	policy  *filter.Policy
	handler http.Handler
	token   string
	key     *rsa.PrivateKey // the consumer's: the run decrypts every answer, as the client does
	rows    int             // transactions stored
	filler  int             // filler accounts stored
	from    civil.Date
	to      civil.Date
	end     time.Time
}

// TestBenchScaleReport is the driver of `make bench-scale` (DSOP_BENCH_SCALE=1): it grows one
// bank in PostgreSQL to each size of DSOP_BENCH_SCALE_SIZES (default 1000000,10000000 transactions)
// and prints, at each, the latency of step 2a, account details, a first transactions page and a
// deep one (page 50+), p50/p99 of DSOP_BENCH_SCALE_SAMPLES (default 200) calls each through the
// full handler (token, decision, store, filter, audit commit, JWE), the process's resident memory
// and the database's size. At the largest size it adds plugin-banking's run of a 200-account
// debtor and the paging of a 1 000 000-transaction account, prints the hot queries' plans, and the
// storage per transaction and per audit record. Reported, never asserted; long (see Makefile).
func TestBenchScaleReport(t *testing.T) {
	if os.Getenv("DSOP_BENCH_SCALE") != "1" {
		t.Skip("run with make bench-scale (DSOP_BENCH_SCALE=1)")
	}
	sizes := []int{1_000_000, 10_000_000}
	if v := os.Getenv("DSOP_BENCH_SCALE_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "DSOP_BENCH_SCALE_SIZES")
			sizes = append(sizes, n)
		}
	}
	samples := 200
	if v := os.Getenv("DSOP_BENCH_SCALE_SAMPLES"); v != "" {
		_, _ = fmt.Sscan(v, &samples)
	}
	b := newScaleBank(t)
	if os.Getenv("DSOP_BENCH_SCALE_WITHOUT_ROLES_INDEX") == "1" {
		// The "before" of issue #31: owners of an account found by reading account_roles whole.
		_, err := b.pool.Exec(context.Background(), "DROP INDEX account_roles_reference")
		require.NoError(t, err)
		fmt.Println("(without the index account_roles_reference, as before migration 0008)")
	}
	fmt.Printf("%-12s %-22s %-22s %-22s %-22s %9s %9s\n", "transactions", "2a p50/p99 ms", "details p50/p99 ms", "first page p50/p99 ms", "page 55 p50/p99 ms", "RSS MiB", "DB MiB")
	for _, size := range sizes {
		b.growTo(size)
		_, err := b.pool.Exec(context.Background(), "ANALYZE")
		require.NoError(t, err)
		checkpoint(t)
		probe := b.refOf(probeDebtor, 0)
		deep := b.refOf(probeDebtor, 10)
		cursor := b.cursorAt(deep, 55)
		window := "fromDate=" + b.from.String() + "&toDate=" + b.to.String()
		lat := func(target, party string) (float64, float64) {
			var d []time.Duration
			for range samples {
				start := time.Now()
				b.get(target, party)
				d = append(d, time.Since(start))
			}
			return pct(d, 0.5), pct(d, 0.99)
		}
		a50, a99 := lat("/v2/accounts?OnlyPrimaryOwner=true&"+window, probeDebtor)
		d50, d99 := lat("/v2/accounts/"+probe+"?"+window, "")
		f50, f99 := lat("/v2/accounts/"+probe+"/transactions?"+window, "")
		p50, p99 := lat("/v2/accounts/"+deep+"/transactions?"+window+"&page="+cursor, "")
		fmt.Printf("%-12d %-22s %-22s %-22s %-22s %9d %9d\n", b.rows,
			fmt.Sprintf("%.2f / %.2f", a50, a99), fmt.Sprintf("%.2f / %.2f", d50, d99), fmt.Sprintf("%.2f / %.2f", f50, f99), fmt.Sprintf("%.2f / %.2f", p50, p99),
			selfRSS()>>10, b.dbBytes()>>20)
	}

	// At the largest size: the real client's run and the largest account.
	b.addRunDebtorAndBigAccount()
	fmt.Printf("\nat %d transactions:\n", b.rows)
	if prof := os.Getenv("DSOP_BENCH_CPUPROFILE"); prof != "" {
		// The serving only: the run and the paging below, not the filling above.
		f, err := os.Create(prof)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		defer f.Close()
	}
	b.pluginBankingRun()
	b.pageBigAccount()
	pprof.StopCPUProfile()
	b.plans()
	b.storage()
}

func newScaleBank(t *testing.T) *scaleBank {
	ctx := context.Background()
	pool := database(t)
	policy, err := filter.New(filter.Overrides{})
	require.NoError(t, err)
	b := &scaleBank{t: t, pool: pool, refs: accounts.NewReferencer(secret), policy: policy}
	oslo, _ := time.LoadLocation("Europe/Oslo")
	now := time.Now()
	b.to, b.end = civil.Today(now, oslo), now.Add(-time.Hour).UTC().Truncate(time.Second)
	b.from = b.to.AddDate(0, -11, 0)
	bd := &accounts.BankData{
		Servicer: accounts.Servicer{OrganisationNumber: "900293003", Name: "Scale ASA"},
		Parties:  []accounts.Party{{ID: probeDebtor}, {ID: runDebtor}, {ID: bigOwner}, {ID: fillerOwner}},
	}
	for i := range 11 {
		bd.Accounts = append(bd.Accounts, benchAccount(b.number(probeDebtor, i), probeDebtor))
	}
	_, err = postgres.ImportFile(ctx, pool, accountstest.WriteFile(t, bd), b.refs, policy, postgres.ImportOptions{})
	require.NoError(t, err)
	for i := range 10 {
		b.fill(b.refOf(probeDebtor, i), 3000)
	}
	b.fill(b.refOf(probeDebtor, 10), 60_000)

	notices := &postgres.NoticeStore{Pool: pool}
	for i, d := range []string{probeDebtor, runDebtor, bigOwner} {
		_, err = notices.Apply(ctx, []konkursvarsel.Notice{{UUID: fmt.Sprintf("37f86010-2163-43e8-95a9-c9721e8da76%d", i), Type: konkursvarsel.Aapning,
			Registreringstidspunkt: now.UTC().Truncate(time.Millisecond), Kjennelsesdato: b.to, Debitor: d}})
		require.NoError(t, err)
	}
	w := wire(t, pool, notices, policy, 3*time.Hour)
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, ckey, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(0, 0, 1), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	b.token, b.key = w.token, ckey
	w.deps.Encrypter = &encryption.Encrypter{Certs: &certpub.FileSource{Cert: cert}, Enc: encryption.A128CBCHS256}
	b.handler = httpapi.NewServer(w.deps)
	return b
}

func benchAccount(number, owner string) accounts.Account {
	return accounts.Account{AccountNumber: number, Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
		StartDate: civil.MustParse("2010-01-01"), Roles: []accounts.Role{{PartyID: owner, Role: accounts.RolePrimaryOwner, StartDate: civil.MustParse("2010-01-01")}}}
}

// number is the account number of an owner's i-th account (distinct per owner).
func (b *scaleBank) number(owner string, i int) string {
	return fmt.Sprintf("%s%02d%09d", owner[:1], map[string]int{probeDebtor: 1, runDebtor: 2, bigOwner: 3, fillerOwner: 4}[owner], i)
}

func (b *scaleBank) refOf(owner string, i int) string { return b.refs.Reference(b.number(owner, i)) }

// addAccounts stores accounts (without transactions) straight into the tables, as import would.
func (b *scaleBank) addAccounts(owner string, from, to int) {
	ctx := context.Background()
	var accts, roles [][]any
	for i := from; i < to; i++ {
		a := benchAccount(b.number(owner, i), owner)
		doc, _ := json.Marshal(a)
		ref := b.refs.Reference(a.AccountNumber)
		accts = append(accts, []any{ref, a.AccountNumber, string(doc)})
		roles = append(roles, []any{ref, owner, string(accounts.RolePrimaryOwner), civil.MustParse("2010-01-01").In(time.UTC), nil})
	}
	_, err := b.pool.CopyFrom(ctx, pgx.Identifier{"accounts"}, []string{"reference", "account_number", "doc"}, pgx.CopyFromRows(accts))
	require.NoError(b.t, err)
	_, err = b.pool.CopyFrom(ctx, pgx.Identifier{"account_roles"}, []string{"reference", "party_id", "role", "start_date", "end_date"}, pgx.CopyFromRows(roles))
	require.NoError(b.t, err)
}

// fill stores n transactions on an account, a minute apart back from the end of the window: rows
// made from one template, so that filling is bound by COPY, not by encoding.
func (b *scaleBank) fill(ref string, n int) { b.fillEvery(ref, n, time.Minute) }

// fillEvery is fill with the transactions step apart.
func (b *scaleBank) fillEvery(ref string, n int, step time.Duration) {
	tmpl, err := postgres.TransactionRow(ref, transaction(0, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)), b.policy)
	require.NoError(b.t, err)
	doc, delivered := tmpl[3].(string), tmpl[4].(string)
	const id0, t0 = "tx-000000000", "2001-02-03T04:05:06Z"
	_, err = b.pool.CopyFrom(context.Background(), pgx.Identifier{"transactions"}, postgres.TransactionColumns,
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			at := b.end.Add(-time.Duration(i) * step)
			id, ts := fmt.Sprintf("tx-%09d", i), at.Format(time.RFC3339)
			r := strings.NewReplacer(id0, id, t0, ts)
			return []any{ref, at, id, r.Replace(doc), r.Replace(delivered), tmpl[5]}, nil
		}))
	require.NoError(b.t, err)
	b.rows += n
}

// growTo adds filler accounts of 333 transactions (a mid-size bank: 300 000 accounts for 100 M)
// until the bank holds size transactions.
func (b *scaleBank) growTo(size int) {
	began, rows0 := time.Now(), b.rows
	for b.rows < size {
		batch := min(1000, (size-b.rows+332)/333)
		b.addAccounts(fillerOwner, b.filler, b.filler+batch)
		var wg sync.WaitGroup
		for i := b.filler; i < b.filler+batch; i++ {
			ref := b.refOf(fillerOwner, i)
			wg.Add(1)
			go func() { defer wg.Done(); b.fill(ref, 333) }()
			if (i-b.filler)%2 == 1 {
				wg.Wait()
			}
		}
		wg.Wait()
		b.filler += batch
	}
	fmt.Printf("(grew to %d transactions in %d accounts in %s: %.0f rows/s)\n", b.rows, b.filler+11, time.Since(began).Round(time.Second),
		float64(b.rows-rows0)/time.Since(began).Seconds())
}

func (b *scaleBank) addRunDebtorAndBigAccount() {
	b.addAccounts(runDebtor, 0, 200)
	for i := range 200 {
		b.fill(b.refOf(runDebtor, i), 5000)
	}
	b.addAccounts(bigOwner, 0, 1)
	b.fillEvery(b.refOf(bigOwner, 0), 1_000_000, 20*time.Second) // all within the window
	_, err := b.pool.Exec(context.Background(), "ANALYZE")
	require.NoError(b.t, err)
	checkpoint(b.t)
}

// get sends one request as BRREG does (JWE) and returns the answer's body.
func (b *scaleBank) get(target, party string) []byte {
	return b.request(target, party, "application/jose")
}

// getJSON is get with a clear JSON answer (test mode), to read links in setup.
func (b *scaleBank) getJSON(target, party string) []byte {
	return b.request(target, party, "application/json")
}

func (b *scaleBank) request(target, party, accept string) []byte {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
	req.Header.Set("CorrelationID", "14fbc062-aacb-4449-93c1-85c352d387a4")
	req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
	req.Header.Set("Accept", accept)
	if party != "" {
		req.Header.Set("PartyID", party)
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	require.Equal(b.t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body.String())
	return rec.Body.Bytes()
}

// cursorAt follows next links to the page'th page of an account and returns its cursor.
func (b *scaleBank) cursorAt(ref string, page int) string {
	target := "/v2/accounts/" + ref + "/transactions?fromDate=" + b.from.String() + "&toDate=" + b.to.String()
	cursor := ""
	for range page - 1 {
		var body dsop.Transactions
		require.NoError(b.t, json.Unmarshal(b.getJSON(target, ""), &body))
		next := ""
		for _, l := range *body.Links {
			if l.Rel == "next" {
				next = l.Href
			}
		}
		require.NotEmpty(b.t, next, "the account has %d pages", page)
		target = "/v2" + next
		u, err := url.Parse(next)
		require.NoError(b.t, err)
		cursor = u.Query().Get("page")
	}
	return cursor
}

// pluginBankingRun is the real client's run for the 200-account debtor, JWE on: the list, the
// details of every account at once, then each account's transactions in turn following next —
// each answer decrypted with the consumer's key and its next link read, as the client does.
func (b *scaleBank) pluginBankingRun() {
	window := "fromDate=" + b.from.String() + "&toDate=" + b.to.String()
	start := time.Now()
	var list dsop.Accounts
	require.NoError(b.t, json.Unmarshal(b.open(b.get("/v2/accounts?OnlyPrimaryOwner=true&"+window, runDebtor)), &list))
	var wg sync.WaitGroup
	for _, a := range *list.Accounts {
		wg.Go(func() { b.open(b.get("/v2/accounts/"+a.AccountReference+"?"+window, "")) })
	}
	wg.Wait()
	pages := 0
	for _, a := range *list.Accounts {
		target := "/v2/accounts/" + a.AccountReference + "/transactions?" + window
		for target != "" {
			target = nextLink(b.open(b.get(target, "")))
			pages++
		}
	}
	d := time.Since(start)
	fmt.Printf("plugin-banking's run of a debtor with %d accounts (list, details at once, %d transaction pages in turn, JWE decrypted by the client): %s, %.0f pages/s\n",
		len(*list.Accounts), pages, d.Round(time.Millisecond), float64(pages)/d.Seconds())
}

// open decrypts an answer with the consumer's key.
func (b *scaleBank) open(body []byte) []byte {
	plain, err := jwe.Decrypt(body, jwe.WithKey(jwa.RSA_OAEP_256(), b.key))
	require.NoError(b.t, err)
	return plain
}

// nextLink is the next href of a transactions page, or "" on the last: the links are at the end
// of the body, so they are found without decoding the page (the bench's own cost stays small).
func nextLink(page []byte) string {
	i := bytes.LastIndex(page, []byte(`"links"`))
	if i < 0 {
		return ""
	}
	var links struct {
		Links []dsop.Link `json:"links"`
	}
	if json.Unmarshal(append([]byte{'{'}, page[i:]...), &links) != nil {
		return ""
	}
	for _, l := range links.Links {
		if l.Rel == "next" {
			return "/v2" + l.Href
		}
	}
	return ""
}

// pageBigAccount pages through the 1 000 000-transaction account the way the client does.
func (b *scaleBank) pageBigAccount() {
	target := "/v2/accounts/" + b.refOf(bigOwner, 0) + "/transactions?fromDate=" + b.from.String() + "&toDate=" + b.to.String()
	start, pages := time.Now(), 0
	for target != "" {
		target = nextLink(b.open(b.get(target, "")))
		pages++
	}
	d := time.Since(start)
	fmt.Printf("the 1 000 000-transaction account: %d pages in %s, %.0f pages/s, JWE decrypted by the client (its budget for all pages of an account is 30 s)\n",
		pages, d.Round(time.Millisecond), float64(pages)/d.Seconds())
}

// plans prints the plans of the hot queries at this size.
func (b *scaleBank) plans() {
	ctx := context.Background()
	ref := b.refOf(probeDebtor, 10)
	for _, q := range []struct {
		name, sql string
		args      []any
	}{
		{"accounts of a party (2a)", postgres.AccountsOfPartyQuery, []any{probeDebtor}},
		{"owners of an account (2b)", "SELECT party_id FROM account_roles r WHERE r.reference = $1 AND r.role = $2", []any{ref, string(accounts.RolePrimaryOwner)}},
		{"a transactions page (keyset)", postgres.DeliveredPageQuery, []any{ref, b.from.In(time.UTC), b.to.AddDate(0, 0, 2).In(time.UTC), b.end.Add(-30 * 24 * time.Hour), "tx-000043200", 1000, b.policy.Fingerprint()}},
	} {
		rows, err := b.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) "+q.sql, q.args...)
		require.NoError(b.t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(b.t, err)
		fmt.Printf("plan: %s\n    %s\n", q.name, strings.Join(lines, "\n    "))
	}
}

// storage prints the bytes per transaction and per audit record, and what 100 M transactions and
// ten years of records would take at this rate.
func (b *scaleBank) storage() {
	ctx := context.Background()
	var tx, audit, records int64
	require.NoError(b.t, b.pool.QueryRow(ctx, "SELECT pg_total_relation_size('transactions')").Scan(&tx))
	require.NoError(b.t, b.pool.QueryRow(ctx, "SELECT pg_total_relation_size('audit_records'), (SELECT count(*) FROM audit_records)").Scan(&audit, &records))
	perTx := float64(tx) / float64(b.rows)
	perRec := float64(audit) / float64(max(records, 1))
	fmt.Printf("storage: %.0f B per transaction (table, delivered form and indexes) → %.0f GB for 100 M transactions\n", perTx, perTx*1e8/1e9)
	// Ten years of records at the volumes of services.md: 20 000 Konkursbehandling cases and
	// 150 000 OED requests a year, a case being ~1 list + details and a first page of ~10 accounts.
	perYear := 20_000*21 + 150_000
	fmt.Printf("storage: %.0f B per audit record (%d records) → %.1f GB for ten years at ~%d records a year\n", perRec, records, perRec*float64(perYear)*10/1e9, perYear)
}

// dbBytes is the size of the bank's tables (the schema of this run).
func (b *scaleBank) dbBytes() int64 {
	var n int64
	require.NoError(b.t, b.pool.QueryRow(context.Background(),
		"SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'").Scan(&n))
	return n
}

func pct(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(q*float64(len(s))))]) / 1e6
}

// selfRSS is this process's resident memory in KiB (the handler runs in it).
func selfRSS() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}
