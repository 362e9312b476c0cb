// Package bench holds the benchmarks of `make bench`: the cost of the full request path against
// the floor of reading and encoding the same page, and paging through a very long history.
// They need PostgreSQL (DSOP_TEST_DATABASE_URL); goals are reported, never asserted.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/buffers"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

const (
	debtor  = "910336819"
	account = "90000000001"
	base    = "https://api.bank.no/dsop/v2"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

type env struct {
	policy  *filter.Policy
	pool    *pgxpool.Pool
	store   *postgres.AccountsStore
	svc     *accounts.Service
	audit   *postgres.AuditStore
	handler http.Handler
	token   string
	cert    *x509.Certificate // the consumer's encryption certificate
	seal    encryption.Seal   // the server's own encryption for that certificate
	ref     string
	from    civil.Date
	to      civil.Date
}

func database(tb testing.TB) *pgxpool.Pool {
	pool := pgtest.Pool(tb)
	require.NoError(tb, postgres.Migrate(context.Background(), pool))
	return pool
}

// setup imports a bank whose account has n transactions in the window, an hour apart from the
// end backwards, and builds the full handler on PostgreSQL (audit included).
func setup(tb testing.TB, n int) *env {
	ctx := context.Background()
	pool := database(tb)
	now := time.Now()
	refs := accounts.NewReferencer(secret)
	bd := &accounts.BankData{
		Servicer: accounts.Servicer{OrganisationNumber: "900293003", Name: "Bench ASA"},
		Parties:  []accounts.Party{{ID: debtor, Name: "Fjelltopp Bygg AS"}},
		Accounts: []accounts.Account{{AccountNumber: account, Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
			StartDate: civil.MustParse("2010-01-01"), Roles: []accounts.Role{{PartyID: debtor, Role: accounts.RolePrimaryOwner, StartDate: civil.MustParse("2010-01-01")}}}},
	}
	policy, err := filter.New(filter.Overrides{})
	require.NoError(tb, err)
	_, err = postgres.ImportFile(ctx, pool, accountstest.WriteFile(tb, bd), refs, policy, postgres.ImportOptions{})
	require.NoError(tb, err)
	ref := refs.Reference(account)
	start := now.Add(-time.Duration(n+10) * time.Second).UTC().Truncate(time.Second)
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"transactions"}, postgres.TransactionColumns,
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return postgres.TransactionRow(ref, transaction(i, start.Add(time.Duration(i)*time.Second)), policy)
		}))
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, "ANALYZE transactions")
	require.NoError(tb, err)

	notices := &postgres.NoticeStore{Pool: pool}
	k := civil.Of(now)
	_, err = notices.Apply(ctx, []konkursvarsel.Notice{{UUID: "37f86010-2163-43e8-95a9-c9721e8da769", Type: konkursvarsel.Aapning,
		Registreringstidspunkt: now.UTC().Truncate(time.Millisecond), Kjennelsesdato: k, Debitor: debtor}})
	require.NoError(tb, err)

	w := wire(tb, pool, notices, policy, time.Hour)
	cert := consumerCert(tb)
	w.deps.Encrypter = &encryption.Encrypter{Certs: &certpub.FileSource{Cert: cert}, Enc: encryption.A128CBCHS256}
	seal, err := w.deps.Encrypter.For(ctx, dsopservice.Konkursbehandling().Consumers[0])
	require.NoError(tb, err)
	h := httpapi.NewServer(w.deps)
	store, svc, auditStore, tok, oslo := w.store, w.deps.Accounts, w.deps.Audit.(*postgres.AuditStore), w.token, w.deps.Loc
	return &env{policy: policy, pool: pool, store: store, svc: svc, audit: auditStore, handler: h, token: tok, cert: cert, seal: seal, ref: ref, from: k.AddDate(-1, 0, 0), to: civil.Today(now, oslo)}
}

// wired is the server of a bench on PostgreSQL, without its encrypter: the store, a token valid
// for ttl, and the dependencies (Konkursbehandling, BRREG, test mode, the audit log in pool).
type wired struct {
	store *postgres.AccountsStore
	token string
	deps  httpapi.Deps
}

func wire(tb testing.TB, pool *pgxpool.Pool, notices *postgres.NoticeStore, policy *filter.Policy, ttl time.Duration) wired {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(tb, err)
	issuer, err := devissuer.New(key, "https://maskinporten.no/", base)
	require.NoError(tb, err)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(issuer.JWKS()) }))
	tb.Cleanup(jwks.Close)
	tok, err := issuer.Mint(devissuer.Options{TTL: ttl})
	require.NoError(tb, err)
	oslo, _ := time.LoadLocation("Europe/Oslo")
	store := &postgres.AccountsStore{Pool: pool}
	return wired{store: store, token: tok, deps: httpapi.Deps{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tokens: &validation.TokenValidator{Keys: validation.NewJWKS(jwks.URL, nil), Issuer: "https://maskinporten.no/", Audience: base,
			AllowedConsumers: []string{dsopservice.Konkursbehandling().Consumers[0]}, Skew: 10 * time.Second},
		Rules:    validation.Rules{ToDate: validation.ToDateNotInFuture},
		Decide:   &konkursbehandling.Decider{Bankruptcies: &konkursbehandling.Gate{Store: notices}, Accounts: store, OwnerNotices: store},
		Accounts: &accounts.Service{Store: store, Loc: oslo, PageSize: 1000, DeliveryPolicy: policy.Fingerprint(), Pages: &buffers.Pool{}},
		Cursors:  accounts.NewCursorCodec(secret), Policy: policy,
		Audit: &postgres.AuditStore{Pool: pool}, Mode: httpapi.ModeTest, Loc: oslo,
	}}
}

func transaction(i int, at time.Time) dsop.Transaction {
	amount := json.Number(fmt.Sprintf("%d.%02d", i%100000, i%100))
	cdi, st, cur := dsop.CreditOrDebitDebit, dsop.TransactionStatusBooked, "NOK"
	info := fmt.Sprintf("Faktura %d", i)
	return dsop.Transaction{TransactionIdentifier: fmt.Sprintf("tx-%09d", i), BookingDate: &at, ValueDate: &at, Registered: &at,
		Amount: &amount, CreditDebitIndicator: &cdi, Status: &st, Currency: &cur, AdditionalInfo: &info,
		References: &[]dsop.TransactionReference{{Value: fmt.Sprintf("%010d", i), Type: dsop.ArchiveReference}}}
}

// floor is the physical floor of issue #15: read the page's 1 000 stored transaction documents as
// raw bytes with the keyset query, splice them into one JSON array, and encrypt that with jwx/v3's
// jwe.Encrypt (RSA-OAEP-256 + A128CBC-HS256, 2048-bit key). No decoding, no filtering, no audit.
func (e *env) floor(tb testing.TB) {
	e.readAndEncrypt(tb, func(page []byte) ([]byte, func(), error) {
		out, err := jwe.Encrypt(page, jwe.WithKey(jwa.RSA_OAEP_256(), e.cert.PublicKey), jwe.WithContentEncryption(jwa.A128CBC_HS256()))
		return out, nil, err
	})
}

// floorOwnJWE is the same floor encrypted as the server encrypts (internal/encryption's one-pass
// A128CBC-HS256): not the issue's floor, but what the rest of the full path is measured against
// once the encryption's own gain is set aside.
func (e *env) floorOwnJWE(tb testing.TB) {
	e.readAndEncrypt(tb, func(page []byte) ([]byte, func(), error) { return e.seal(context.Background(), page) })
}

func (e *env) readAndEncrypt(tb testing.TB, encrypt func([]byte) ([]byte, func(), error)) {
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, postgres.TransactionPageQuery,
		e.ref, e.from.In(time.UTC), e.to.AddDate(0, 0, 2).In(time.UTC), e.from.In(time.UTC).Add(-time.Microsecond), "", 1000)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	page := make([]byte, 0, 512<<10)
	page = append(page, `{"responseDetails":{"status":"complete"},"transactions":[`...)
	n := 0
	for rows.Next() {
		if n > 0 {
			page = append(page, ',')
		}
		raw := rows.RawValues()[0]
		page = append(page, raw...)
		n++
	}
	if err := rows.Err(); err != nil || n != 1000 {
		tb.Fatalf("floor: %v, %d rows", err, n)
	}
	page = append(page, "]}"...)
	out, release, err := encrypt(page)
	if err != nil || len(out) == 0 {
		tb.Fatalf("floor: encrypt: %v", err)
	}
	if release != nil { // as the server does once the answer is written
		release()
	}
}

// floorDurable is the honest floor of issue #31: the floor (keyset read of the raw stored
// documents, spliced, JWE with jwx v3) plus the one durable audit commit of about 400 bytes that
// every answer needs before it may leave.
func (e *env) floorDurable(tb testing.TB) {
	e.floor(tb)
	rec := audit.Record{Time: time.Now(), Service: "konkursbehandling", Operation: "listTransactions", Method: "GET",
		Path: "/v2/accounts/" + e.ref + "/transactions", Consumer: dsopservice.Konkursbehandling().Consumers[0],
		AccountInfoRequestID: "d4a820ca-ddde-11ed-b5ea-0242ac120002", CorrelationID: "14fbc062-aacb-4449-93c1-85c352d387a4",
		PartyID: debtor, AccountReference: e.ref, FromDate: e.from.String(), ToDate: e.to.String(), Status: 200,
		BodySHA256: strings.Repeat("ab", 32)}
	if err := e.audit.Append(context.Background(), &rec); err != nil {
		tb.Fatal(err)
	}
}

// honestFloor compares the full path with floorDurable as a consumer paces them (issue #31): one
// request every 200 ms, floor and full interleaved in pairs, so that both meet the same machine
// and neither runs back to back with itself. It prints the medians and their ratio.
func (e *env) honestFloor(t *testing.T) {
	pairs := 40
	if s := os.Getenv("DSOP_BENCH_PAIRS"); s != "" {
		_, _ = fmt.Sscan(s, &pairs)
	}
	var floors, fulls []float64
	timed := func(f func(testing.TB)) float64 {
		start := time.Now()
		f(t)
		d := float64(time.Since(start))
		time.Sleep(200 * time.Millisecond)
		return d
	}
	for range pairs {
		floors = append(floors, timed(e.floorDurable))
		fulls = append(fulls, timed(e.full))
	}
	mf, mu := median(floors), median(fulls)
	fmt.Printf("honest floor (the floor + one durable ~400-byte audit commit, paced at 5 requests/s like the page): median %.2f ms\n", mf/1e6)
	fmt.Printf("full path, paced alike in the same %d interleaved pairs: median %.2f ms\n", pairs, mu/1e6)
	fmt.Printf("ratio full/floor = %.2f (goal ≤ 1.25)\n", mu/mf)
}

// full sends the same page through the HTTP handler: token, validation, decision, store, filter,
// JSON, audit record committed in PostgreSQL, JWE.
func (e *env) full(tb testing.TB) {
	e.get(tb, fmt.Sprintf("/v2/accounts/%s/transactions?fromDate=%s&toDate=%s", e.ref, e.from, e.to))
}

// get sends one request as BRREG does, asking for JWE, and requires a 200 with a body.
func (e *env) get(tb testing.TB, target string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
	req.Header.Set("CorrelationID", "14fbc062-aacb-4449-93c1-85c352d387a4")
	req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
	req.Header.Set("Accept", "application/jose")
	w := &discard{header: http.Header{}}
	e.handler.ServeHTTP(w, req)
	if w.status != 200 || w.n == 0 {
		tb.Fatalf("%s: %d", target, w.status)
	}
}

// details sends step 2b's account details for the same account through the handler: a small
// answer, so that what every request pays besides the page (token, validation, decision, audit
// record, JWE key wrap) stays visible (issue #15).
func (e *env) details(tb testing.TB) {
	e.get(tb, fmt.Sprintf("/v2/accounts/%s?fromDate=%s&toDate=%s", e.ref, e.from, e.to))
}

// benchmark times op on a bank whose account has 3 000 transactions, after one untimed call (the
// full path fetches the issuer's JWKS in it).
func benchmark(b *testing.B, op func(*env, testing.TB)) {
	e := setup(b, 3000)
	op(e, b)
	b.ResetTimer()
	for b.Loop() {
		op(e, b)
	}
}

func BenchmarkPageFloor(b *testing.B)          { benchmark(b, (*env).floor) }
func BenchmarkPageFloorOwnJWE(b *testing.B)    { benchmark(b, (*env).floorOwnJWE) }
func BenchmarkPageFull(b *testing.B)           { benchmark(b, (*env).full) }
func BenchmarkAccountDetailsFull(b *testing.B) { benchmark(b, (*env).details) }

// TestBenchReport is the driver of `make bench` (DSOP_BENCH=1): the ratio of the full path to the
// floor, measured in one run, and paging through 1 000 000 transactions.
func TestBenchReport(t *testing.T) {
	if os.Getenv("DSOP_BENCH") != "1" {
		t.Skip("run with make bench (DSOP_BENCH=1)")
	}
	e := setup(t, 3000)
	e.full(t)
	checkpoint(t)
	// The two are measured in alternating rounds of the same run, so that a stretch of noise
	// (these machines share their cores) falls on both; the report gives every round and the
	// ratio of the medians.
	rounds := 5
	if s := os.Getenv("DSOP_BENCH_ROUNDS"); s != "" {
		_, _ = fmt.Sscan(s, &rounds)
	}
	var floors, owns, fulls []float64
	ns := func(f func(testing.TB)) (float64, int) {
		r := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				f(b)
			}
		})
		return float64(r.NsPerOp()), r.N
	}
	for i := range max(rounds, 1) {
		floor, nFloor := ns(e.floor)
		full, nFull := ns(e.full)
		own, _ := ns(e.floorOwnJWE)
		floors, fulls, owns = append(floors, floor), append(fulls, full), append(owns, own)
		fmt.Printf("round %d: floor %.2f ms (%d ops), full %.2f ms (%d ops), ratio %.2f; floor with the server's JWE %.2f ms\n", i+1,
			floor/1e6, nFloor, full/1e6, nFull, full/floor, own/1e6)
	}
	mf, mu, mo := median(floors), median(fulls), median(owns)
	fmt.Printf("floor (keyset read of 1000 raw stored documents, spliced, JWE v3): median %.2f ms\n", mf/1e6)
	fmt.Printf("full  (HTTP handler: token, validation, decision, store, filter, JSON, audit, JWE): median %.2f ms\n", mu/1e6)
	fmt.Printf("ratio full/floor = %.2f (medians of %d alternating rounds)\n", mu/mf, len(floors))
	fmt.Printf("for reference, the floor encrypted as the server encrypts (internal/encryption): median %.2f ms; full/that = %.2f\n", mo/1e6, mu/mo)
	small, _ := ns(e.details)
	fmt.Printf("a small request through the same handler (step 2b account details, JWE): %.2f ms\n", small/1e6)

	e.honestFloor(t)

	n := 1_000_000
	if s := os.Getenv("DSOP_BENCH_TRANSACTIONS"); s != "" {
		_, _ = fmt.Sscan(s, &n)
	}
	long := setup(t, n)
	ctx := context.Background()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	var peak, peakFirst uint64
	pages, rows := 0, 0
	start := time.Now()
	var after *accounts.Position
	acct, err := long.svc.Resolve(ctx, long.ref)
	require.NoError(t, err)
	h := accounts.Holding{Account: acct, Owner: acct.Roles[0], Spells: []civil.Period{{From: long.from, To: long.to}}}
	for {
		page, err := long.svc.Transactions(ctx, h, after)
		require.NoError(t, err)
		require.NotNil(t, page.Delivered, "the page is read in delivered form")
		_, _, count, err := long.policy.TransactionsPage(page.Body, page.Delivered)
		require.NoError(t, err)
		page.Delivered.Release() // as the server does once the answer has left
		rows += count
		pages++
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > peak {
			peak = ms.HeapAlloc
		}
		if pages == 10 {
			peakFirst = peak
		}
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	d := time.Since(start)
	require.Equal(t, n, rows)
	mib := func(v uint64) float64 { return (float64(v) - float64(baseHeap)) / (1 << 20) }
	fmt.Printf("%d transactions in %d pages: %.0f pages/s (%s in all); peak heap %.1f MiB above baseline",
		rows, pages, float64(pages)/d.Seconds(), d.Round(time.Millisecond), mib(peak))
	if pages >= 10 {
		fmt.Printf(" (%.1f MiB within the first 10 pages: the peak does not grow with the history)", mib(peakFirst))
	}
	fmt.Println()

	// Import of a generated file, streamed: peak heap against the file's size.
	m := 200_000
	if v := os.Getenv("DSOP_BENCH_IMPORT_TRANSACTIONS"); v != "" {
		_, _ = fmt.Sscan(v, &m)
	}
	file := filepath.Join(t.TempDir(), "bank.json")
	out, err := os.Create(file)
	require.NoError(t, err)
	bd := &accounts.BankData{
		Servicer: accounts.Servicer{OrganisationNumber: "900293003", Name: "Bench ASA"},
		Parties:  []accounts.Party{{ID: debtor, Name: "Fjelltopp Bygg AS"}},
		Accounts: []accounts.Account{{AccountNumber: account, Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
			StartDate: civil.MustParse("2010-01-01"), Roles: []accounts.Role{{PartyID: debtor, Role: accounts.RolePrimaryOwner, StartDate: civil.MustParse("2010-01-01")}}}},
	}
	head, _ := json.Marshal(bd)
	head = bytes.TrimSuffix(head, []byte("}]}")) // reopen the account to stream its transactions in
	_, _ = out.Write(append(head, []byte(`,"transactions":[`)...))
	start0 := time.Now().Add(-time.Duration(m) * time.Second).UTC().Truncate(time.Second)
	for i := range m {
		if i > 0 {
			_, _ = out.Write([]byte(","))
		}
		b, _ := json.Marshal(transaction(i, start0.Add(time.Duration(i)*time.Second)))
		_, _ = out.Write(b)
	}
	_, _ = out.Write([]byte("]}]}\n"))
	require.NoError(t, out.Close())
	fi, err := os.Stat(file)
	require.NoError(t, err)
	pool := database(t)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap, peak = ms.HeapAlloc, 0
	began := time.Now()
	rep, err := postgres.ImportFile(ctx, pool, file, accounts.NewReferencer(secret), e.policy, postgres.ImportOptions{Progress: func(postgres.Progress) {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}})
	require.NoError(t, err)
	require.Equal(t, m, rep.Transactions)
	fmt.Printf("import of %d transactions (%d MB file), streamed: %s; peak heap %.1f MiB above baseline\n",
		m, fi.Size()>>20, time.Since(began).Round(time.Millisecond), float64(peak-min(peak, baseHeap))/(1<<20))

}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// consumerCert is BRREG's encryption certificate (2048-bit RSA), as CertPub would give it.
func consumerCert(tb testing.TB) *x509.Certificate {
	ca, err := certpubtest.NewTestCA()
	require.NoError(tb, err)
	cert, _, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(0, 0, 1), x509.KeyUsageKeyEncipherment)
	require.NoError(tb, err)
	return cert
}

// discard is a ResponseWriter that, like a socket, keeps nothing: the floor keeps nothing either.
type discard struct {
	header http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) WriteHeader(s int)   { d.status = s }
func (d *discard) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}
