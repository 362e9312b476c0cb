package console_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/console"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

const (
	person = "08086001471" // a national identity number that must never show unmasked
	caseID = "d4a820ca-ddde-11ed-b5ea-0242ac120002"
	secret = "0123456789abcdef0123456789abcdef"
)

type world struct {
	issuer *devissuer.Issuer
	url    string
	audit  *audit.MemoryStore // the embedded world's log (nil on PostgreSQL)
	log    audit.Store
	outbox konkursvarsel.Outbox
}

// stores are where a world keeps its log, notices and instructions.
type stores struct {
	audit   audit.Store
	notices konkursvarsel.Store
	outbox  konkursvarsel.Outbox
	// roleClaim is the claim the console reads roles from; default "roles", which the
	// development issuer's users carry.
	roleClaim   string
	readTimeout time.Duration
	// configure, when set, changes the console's settings.
	configure func(*console.Deps)
}

// newWorld starts the development issuer (as the OpenID Connect provider) and a console on an
// audit log with one case about person: two calls that delivered, and a CLI reveal.
func newWorld(t *testing.T) *world {
	t.Helper()
	mem := &audit.MemoryStore{}
	w := newWorldOn(t, stores{audit: mem, notices: konkursvarsel.NewMemoryStore(), outbox: &konkursvarsel.FileOutbox{Dir: t.TempDir()}})
	w.audit = mem
	return w
}

func newWorldOn(t *testing.T, st stores) *world {
	t.Helper()
	var issuerHandler http.Handler
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { issuerHandler.ServeHTTP(w, r) }))
	t.Cleanup(idp.Close)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	dev, err := devissuer.New(key, idp.URL+"/", "https://bank.example/v2")
	require.NoError(t, err)
	issuerHandler = dev.Handler()

	w := &world{log: st.audit, outbox: st.outbox, issuer: dev}
	ctx := context.Background()
	three, thousand := 3, 1000
	for _, r := range []audit.Record{
		{Time: time.Now().Add(-time.Hour), Operation: "listAccounts", Method: "GET", Path: "/v2/accounts", Consumer: "0192:974760673", TokenJTI: "jti-1",
			AccountInfoRequestID: caseID, CorrelationID: "c1", PartyID: person, LegalMandate: "kkl. §156 (3) og (4), jf. kkfor. §21",
			NoticeUUID: "37f86010-2163-43e8-95a9-c9721e8da769", Kjennelsesdato: "2018-06-08", Status: 200, Accounts: &three, BodySHA256: "abc"},
		{Time: time.Now().Add(-50 * time.Minute), Operation: "listTransactions", Method: "GET", Path: "/v2/accounts/ref/transactions", Consumer: "0192:974760673",
			AccountInfoRequestID: caseID, CorrelationID: "c2", PartyID: person, Status: 200, Transactions: &thousand, Spells: []string{"ref 2017-06-08/2026-11-23"}},
		{Time: time.Now().Add(-40 * time.Minute), Operation: "audit.reveal", Method: "CLI", Path: "audit case", Actor: "root", Detail: "audit case --reveal --party " + person,
			AccountInfoRequestID: caseID},
	} {
		require.NoError(t, w.log.Append(ctx, &r))
	}
	notices := st.notices
	_, err = notices.Apply(ctx, []konkursvarsel.Notice{{UUID: "37f86010-2163-43e8-95a9-c9721e8da769", Type: konkursvarsel.Aapning,
		Registreringstidspunkt: time.Now().Add(-48 * time.Hour).UTC(), Kjennelsesdato: civil.MustParse("2018-06-08"), Debitor: person}})
	require.NoError(t, err)
	_, err = w.outbox.Add(ctx, []konkursvarsel.Action{{ID: "37f86010-2163-43e8-95a9-c9721e8da769", Type: konkursvarsel.ActionFor(konkursvarsel.Aapning),
		NoticeUUID: "37f86010-2163-43e8-95a9-c9721e8da769", NoticeType: konkursvarsel.Aapning, Debitor: person, Kjennelsesdato: "2018-06-08",
		Accounts: []konkursvarsel.ActionAccount{{AccountNumber: "15039285662", PartyID: person}}, CreatedAt: time.Now()}})
	require.NoError(t, err)

	var consoleHandler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { consoleHandler.ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	deps := console.Deps{
		BaseURL: srv.URL, Secret: []byte(secret), Audit: w.log, Signer: audit.NewSigner([]byte(secret)),
		OIDC:    console.OIDC{Issuer: dev.URL, ClientID: "dsop-console", RoleClaim: cmp.Or(st.roleClaim, "roles"), ViewerValue: "dsop.viewer", OfficerValue: "dsop.officer"},
		Notices: notices, Outbox: w.outbox, ReadTimeout: st.readTimeout,
	}
	if st.configure != nil {
		st.configure(&deps)
	}
	c, err := console.New(deps)
	require.NoError(t, err)
	consoleHandler = c.Handler()
	w.url = srv.URL
	return w
}

// browser is an HTTP client with cookies that does not follow redirects by itself.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login runs the authorization code flow through the development issuer's sign-in page, as a
// browser does, and returns a client with the session.
func (w *world) login(t *testing.T, user string) *http.Client {
	t.Helper()
	b := browser(t)
	res, err := b.Get(w.url + "/login?return=/")
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	authorize, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	form := authorize.Query()
	require.Equal(t, "S256", form.Get("code_challenge_method"), "PKCE")
	form.Set("user", user)
	res, err = b.PostForm(authorize.Scheme+"://"+authorize.Host+"/authorize", form)
	require.NoError(t, err)
	require.Equal(t, http.StatusFound, res.StatusCode)
	res, err = b.Get(res.Header.Get("Location")) // the callback
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	require.Contains(t, string(body), `http-equiv="refresh"`, "the signed-in page moves on by itself")
	return b
}

func get(t *testing.T, b *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := b.Get(u)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, "the page has a form with a CSRF token")
	return m[1]
}

var pages = []string{"/", "/cases/" + caseID, "/anomalies", "/health", "/konkursvarsel", "/activity"}

func TestConsole_UnauthenticatedAccessGoesToSignIn(t *testing.T) {
	w := newWorld(t)
	for _, p := range pages {
		res, _ := get(t, browser(t), w.url+p)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, p)
		require.Equal(t, "/login?return="+url.QueryEscape(p), res.Header.Get("Location"), p)
	}
	// A forged session cookie is no session.
	b := browser(t)
	u, _ := url.Parse(w.url)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "dsop_console", Value: "eyJzdWIiOiJ4Iiwicm9sZSI6Im9mZmljZXIifQ.forged"}})
	res, _ := get(t, b, w.url+"/")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	// Signed in, the same pages answer.
	officer := w.login(t, "dev-officer")
	for _, p := range pages {
		res, _ := get(t, officer, w.url+p)
		require.Equal(t, http.StatusOK, res.StatusCode, p)
	}
}

func TestConsole_SecurityHeadersOnEveryAnswer(t *testing.T) {
	w := newWorld(t)
	officer := w.login(t, "dev-officer")
	for _, p := range append(pages, "/no-such-page", "/login", "/static/console.css") {
		res, _ := get(t, officer, w.url+p)
		h := res.Header
		require.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'", p)
		require.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'", p)
		require.NotContains(t, h.Get("Content-Security-Policy"), "unsafe-inline", p)
		require.Equal(t, "no-store", h.Get("Cache-Control"), p)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), p)
		require.Equal(t, "DENY", h.Get("X-Frame-Options"), p)
		require.Equal(t, "no-referrer", h.Get("Referrer-Policy"), p)
	}
	// The session cookie is out of reach of scripts.
	res, err := http.Get(w.url + "/login") // sets the login cookie
	require.NoError(t, err)
	for _, ck := range res.Cookies() {
		require.True(t, ck.HttpOnly, ck.Name)
	}
}

// Every form that changes something needs the session's CSRF token: refused without it and with
// another session's, accepted with its own.
func TestConsole_EveryPOSTNeedsTheCSRFToken(t *testing.T) {
	w := newWorld(t)
	officer := w.login(t, "dev-officer")
	other := w.login(t, "dev-officer")
	_, page := get(t, officer, w.url+"/cases/"+caseID)
	token := csrf(t, page)
	_, otherPage := get(t, other, w.url+"/")
	otherToken := csrf(t, otherPage)
	require.NotEqual(t, token, otherToken)
	seq := regexp.MustCompile(`name="seq" value="(\d+)"`).FindStringSubmatch(page)[1]
	posts := map[string]url.Values{
		"/":                            {"id": {caseID}},
		"/cases/" + caseID + "/reveal": {"seq": {seq}},
		"/health/verify":               {},
		"/konkursvarsel":               {"party": {person}},
		"/actions/37f86010-2163-43e8-95a9-c9721e8da769/ack": {},
		"/logout": {},
	}
	for path, form := range posts {
		for name, tok := range map[string]string{"missing": "", "another session's": otherToken} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tok != "" {
				f.Set("csrf", tok)
			}
			res, err := officer.PostForm(w.url+path, f)
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			require.Equal(t, http.StatusForbidden, res.StatusCode, "%s with %s token", path, name)
			require.Contains(t, string(body), "CSRF", path)
		}
	}
	for _, path := range []string{"/", "/cases/" + caseID + "/reveal", "/health/verify", "/konkursvarsel", "/actions/37f86010-2163-43e8-95a9-c9721e8da769/ack", "/logout"} {
		f := url.Values{"csrf": {token}}
		for k, v := range posts[path] {
			f[k] = v
		}
		res, err := officer.PostForm(w.url+path, f)
		require.NoError(t, err)
		require.Less(t, res.StatusCode, 400, "%s with the right token", path)
	}
	// Signed out now: the session's token no longer does anything.
	res, err := officer.PostForm(w.url+"/health/verify", url.Values{"csrf": {token}})
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	res, _ = get(t, officer, w.url+"/")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
}

// No page shows an identity number in full unless an officer revealed it; the reveal is one
// identity, recorded before it is shown; a viewer is refused, and that is recorded too.
func TestConsole_IdentityNumbersAreMaskedUntilAnOfficerRevealsOne(t *testing.T) {
	w := newWorld(t)
	for _, user := range []string{"dev-officer", "dev-viewer"} {
		b := w.login(t, user)
		for _, p := range pages {
			_, body := get(t, b, w.url+p)
			require.NotContains(t, body, person, "%s sees %s", user, p)
			if p != "/anomalies" && p != "/health" {
				require.Contains(t, body, "080860*****", "%s: the masked form is there: %s", user, p)
			}
		}
		_, page := get(t, b, w.url+"/konkursvarsel")
		res, err := b.PostForm(w.url+"/konkursvarsel", url.Values{"csrf": {csrf(t, page)}, "party": {person}})
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NotContains(t, string(body), person, "the lookup shows the debtor masked")
		if user == "dev-officer" {
			require.Contains(t, string(body), `id="notices"`, "the officer's lookup found the notice")
		} else {
			require.NotContains(t, string(body), `id="notices"`, "a viewer cannot look a number up")
		}
	}

	viewer := w.login(t, "dev-viewer")
	_, page := get(t, viewer, w.url+"/cases/"+caseID)
	require.NotContains(t, page, "Reveal", "a viewer is offered no reveal")
	first := w.audit.Records()[0].Seq
	res, err := viewer.PostForm(w.url+"/cases/"+caseID+"/reveal", url.Values{"csrf": {csrf(t, page)}, "seq": {itoa(first)}})
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.NotContains(t, string(body), person)
	last := w.audit.Records()[len(w.audit.Records())-1]
	require.Equal(t, "console.refused", last.Operation)
	require.Contains(t, last.Actor, "Viktor Viewer")

	officer := w.login(t, "dev-officer")
	_, page = get(t, officer, w.url+"/cases/"+caseID)
	res, err = officer.PostForm(w.url+"/cases/"+caseID+"/reveal", url.Values{"csrf": {csrf(t, page)}, "seq": {itoa(first)}})
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), person, "the officer sees the number")
	var reveal *audit.Record
	for _, r := range w.audit.Records() {
		if r.Operation == "console.reveal" {
			reveal = &r
		}
	}
	require.NotNil(t, reveal, "the reveal is recorded")
	require.Equal(t, person, reveal.PartyID)
	require.Equal(t, caseID, reveal.AccountInfoRequestID)
	require.Contains(t, reveal.Actor, "Olivia Officer")
	// The next view masks it again.
	_, page = get(t, officer, w.url+"/cases/"+caseID)
	require.NotContains(t, page, person)
	require.Contains(t, page, "console.reveal", "the case page lists the reveal among the accesses")
}

func TestConsole_SearchKeepsTheIdentityNumberOutOfTheAddressAndIsRecordedAsAHash(t *testing.T) {
	w := newWorld(t)
	b := w.login(t, "dev-officer")
	_, page := get(t, b, w.url+"/")
	res, err := b.PostForm(w.url+"/", url.Values{"csrf": {csrf(t, page)}, "party": {person}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	loc := res.Header.Get("Location")
	require.NotContains(t, loc, person)
	require.NotContains(t, loc, "080860", "not even the mask's digits travel in the address")
	_, body := get(t, b, w.url+loc)
	require.Contains(t, body, caseID, "the case of the party is found")
	last := w.audit.Records()[len(w.audit.Records())-1]
	require.Equal(t, "console.search-party", last.Operation)
	require.Contains(t, last.Detail, "hmac-sha256:")
	require.NotContains(t, string(last.Raw), person, "the search record holds a keyed hash, not the number")
	res, body = get(t, b, w.url+"/?party=not-a-reference")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.NotContains(t, body, "/cases/"+caseID, "an unknown reference finds nothing")
	res, err = b.PostForm(w.url+"/", url.Values{"csrf": {csrf(t, page)}, "party": {"12345678901"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "an invalid number is refused with a message")
}

// The attack of issue #26, finding 1, replayed: a viewer who knows the mask 080860***** tries the
// candidates the check digits leave. Nothing a viewer is answered may depend on the hidden
// digits: the case search and the Konkursvarsel lookup answer the right number exactly as they
// answer a wrong one, and each try is recorded.
func TestConsole_AViewerCannotTellWhichNumberIsBehindAMask(t *testing.T) {
	w := newWorld(t)
	b := w.login(t, "dev-viewer")
	csrfStrip := regexp.MustCompile(`name="csrf" value="[^"]+"`)
	answer := func(path, number string) (int, string, string) {
		_, page := get(t, b, w.url+path)
		res, err := b.PostForm(w.url+path, url.Values{"csrf": {csrf(t, page)}, "party": {number}})
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Location"), csrfStrip.ReplaceAllString(string(body), "")
	}
	const wrong = "08086000000" // another candidate of the same mask (check digits aside)
	for _, path := range []string{"/", "/konkursvarsel"} {
		before := len(w.audit.Records())
		s1, l1, b1 := answer(path, person)
		s2, l2, b2 := answer(path, wrong)
		require.Equal(t, s1, s2, "%s: the status tells the numbers apart", path)
		require.Equal(t, l1, l2, "%s: the redirect tells the numbers apart", path)
		require.Equal(t, b1, b2, "%s: the page tells the numbers apart", path)
		require.NotContains(t, b1, "37f86010-2163-43e8-95a9-c9721e8da769\"></td>", path)
		recs := w.audit.Records()[before:]
		require.Len(t, recs, 2, "%s: every try is recorded", path)
		for _, r := range recs {
			require.Equal(t, "console.refused", r.Operation)
		}
	}
}

func TestConsole_OfficerAcknowledgesAndVerifies(t *testing.T) {
	w := newWorld(t)
	officer := w.login(t, "dev-officer")
	_, page := get(t, officer, w.url+"/konkursvarsel")
	require.Contains(t, page, "Acknowledge")
	res, err := officer.PostForm(w.url+"/actions/37f86010-2163-43e8-95a9-c9721e8da769/ack", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	acts, err := w.outbox.List(context.Background())
	require.NoError(t, err)
	require.NotNil(t, acts[0].AckedAt)
	require.Contains(t, acts[0].AckedBy, "Olivia Officer")
	res, err = officer.PostForm(w.url+"/actions/37f86010-2163-43e8-95a9-c9721e8da769/ack", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, res.StatusCode, "a second acknowledgement is refused")

	_, page = get(t, officer, w.url+"/health")
	require.Contains(t, page, "never run")
	res, err = officer.PostForm(w.url+"/health/verify", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, page = get(t, officer, w.url+"/health")
	require.Regexp(t, `class="ok">OK: \d+ records`, page)

	// A record changed after the fact breaks the chain, and the next verification says so.
	recs := w.audit.Records()
	recs[0].Status = 404
	w.audit.SetRecords(recs)
	res, err = officer.PostForm(w.url+"/health/verify", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, page = get(t, officer, w.url+"/health")
	require.Regexp(t, `class="bad">BROKEN at record 1`, page)
	_, page = get(t, officer, w.url+"/activity")
	for _, op := range []string{"console.login", "console.ack", "console.verify"} {
		require.Contains(t, page, op)
	}
}

// signIn runs a sign-in with return path ret as user and returns the callback's address and its
// answer.
func (w *world) signIn(t *testing.T, b *http.Client, user, ret string) (string, *http.Response, string) {
	t.Helper()
	res, err := b.Get(w.url + "/login?return=" + ret)
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	authorize, _ := url.Parse(res.Header.Get("Location"))
	form := authorize.Query()
	form.Set("user", user)
	res, err = b.PostForm(authorize.Scheme+"://"+authorize.Host+"/authorize", form)
	require.NoError(t, err)
	callback := res.Header.Get("Location")
	res, body := get(t, b, callback)
	return callback, res, body
}

var refreshTo = regexp.MustCompile(`http-equiv="refresh" content="0;url=([^"]*)"`)

func TestConsole_SignInNeedsTheBrowsersOwnStateAndReturnsOnlyInsideTheConsole(t *testing.T) {
	w := newWorld(t)
	b := browser(t)
	res, err := b.Get(w.url + "/callback?state=x&code=y")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "a callback this browser did not start")
	// return= never leaves the console (issue #26, finding 2: a TAB that browsers drop).
	for ret, want := range map[string]string{
		"//evil.example/":          "/",
		"/%09/evil.example":        "/",
		"%2F%09%2Fevil.example":    "/",
		"/%5Cevil.example":         "/",
		"/%2F%2Fevil.example":      "/",
		"https://evil.example/":    "/",
		"/%0d%0aSet-Cookie:%20x=y": "/",
		"/cases/abc%20d":           "/",
		"/cases/abc?x=1":           "/cases/abc?x=1",
		"/anomalies":               "/anomalies",
	} {
		_, res, body := w.signIn(t, browser(t), "dev-viewer", url.QueryEscape(mustUnescape(t, ret)))
		require.Equal(t, http.StatusOK, res.StatusCode, ret)
		m := refreshTo.FindStringSubmatch(body)
		require.NotNil(t, m, ret)
		require.Equal(t, want, html.UnescapeString(m[1]), "return=%s", ret)
	}
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	require.NoError(t, err)
	return u
}

// A callback is used once, whatever the identity provider does with its codes (issue #26,
// finding 5), and a session ends with sign-out on every copy of its cookie (finding 4).
func TestConsole_ACallbackIsUsedOnceAndSignOutEndsTheSessionEverywhere(t *testing.T) {
	w := newWorld(t)
	b := browser(t)
	callback, res, _ := w.signIn(t, b, "dev-officer", "/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	// The same callback again, with the login cookie put back as an attacker who copied it would.
	u, _ := url.Parse(callback)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "dsop_console_login", Value: u.Query().Get("state"), Path: "/callback"}})
	res, _ = get(t, b, callback)
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "a replayed callback is refused")

	// A copy of the session cookie, taken before sign-out.
	base, _ := url.Parse(w.url)
	var copied *http.Cookie
	for _, c := range b.Jar.Cookies(base) {
		if c.Name == "dsop_console" {
			copied = c
		}
	}
	require.NotNil(t, copied)
	res, page := get(t, b, w.url+"/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, err := b.PostForm(w.url+"/logout", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	thief := browser(t)
	thief.Jar.SetCookies(base, []*http.Cookie{copied})
	res, _ = get(t, thief, w.url+"/")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "the copied cookie no longer works")
	require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/login"))
}

// The session cookie is HttpOnly and SameSite=Strict; a session ends after its idle time, and
// when the identity provider no longer grants the role (re-read with the refresh token).
func TestConsole_SessionsEndWhenIdleAndWhenTheRoleIsRemoved(t *testing.T) {
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	mem := &audit.MemoryStore{}
	w := newWorldOn(t, stores{audit: mem, notices: konkursvarsel.NewMemoryStore(), outbox: &konkursvarsel.FileOutbox{Dir: t.TempDir()},
		configure: func(d *console.Deps) { d.Now, d.IdleTimeout, d.RoleRecheck = now, 30*time.Minute, 10*time.Minute }})
	// The console's clock runs ahead of the identity provider's in this test: its ID tokens
	// stay valid for the day.
	w.issuer.EditIDToken = func(c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }
	b := browser(t)
	_, res, _ := w.signIn(t, b, "dev-officer", "/")
	var set string
	for _, c := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "dsop_console=") {
			set = c
		}
	}
	require.Contains(t, set, "HttpOnly")
	require.Contains(t, set, "SameSite=Strict")

	advance(29 * time.Minute)
	res, _ = get(t, b, w.url+"/activity")
	require.Equal(t, http.StatusOK, res.StatusCode, "used within the idle time")
	advance(29 * time.Minute)
	res, _ = get(t, b, w.url+"/activity")
	require.Equal(t, http.StatusOK, res.StatusCode, "each use renews the idle time")
	advance(31 * time.Minute)
	res, _ = get(t, b, w.url+"/activity")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "idle too long")
	require.Contains(t, mem.Records()[len(mem.Records())-1].Detail, "idle timeout")

	b = browser(t)
	w.signIn(t, b, "dev-officer", "/")
	res, _ = get(t, b, w.url+"/activity")
	require.Equal(t, http.StatusOK, res.StatusCode)
	w.issuer.SetRole("dev-officer", "") // removed at the identity provider
	advance(5 * time.Minute)
	res, _ = get(t, b, w.url+"/activity")
	require.Equal(t, http.StatusOK, res.StatusCode, "not re-checked yet")
	advance(6 * time.Minute)
	res, _ = get(t, b, w.url+"/activity")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "the role re-read at renewal is gone")
	require.Contains(t, mem.Records()[len(mem.Records())-1].Detail, "no longer grants")

	w.issuer.SetRole("dev-officer", "dsop.viewer") // demoted, not removed
	b = browser(t)
	w.signIn(t, b, "dev-officer", "/")
	w.issuer.SetRole("dev-officer", "dsop.officer")
	advance(11 * time.Minute)
	_, page := get(t, b, w.url+"/")
	require.Contains(t, page, `id="role">officer`, "a role granted since is read at renewal")
}

// ID tokens are checked as the API checks tokens (issue #26, finding 5): exp as a JSON string,
// or an aud with several values and no azp, are refused.
func TestConsole_IDTokensAreCheckedAsStrictlyAsAccessTokens(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"exp as a string":            func(c map[string]any) { c["exp"] = fmt.Sprint(c["exp"]) },
		"several audiences, no azp":  func(c map[string]any) { c["aud"] = []string{"other", c["aud"].(string)} },
		"several audiences, bad azp": func(c map[string]any) { c["aud"], c["azp"] = []string{"other", c["aud"].(string)}, "other" },
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			w.issuer.EditIDToken = edit
			_, res, body := w.signIn(t, browser(t), "dev-officer", "/")
			require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
			require.Contains(t, body, "ID token was not valid")
		})
	}
	w := newWorld(t)
	w.issuer.EditIDToken = func(c map[string]any) { c["aud"], c["azp"] = []string{"other", c["aud"].(string)}, "dsop-console" }
	_, res, _ := w.signIn(t, browser(t), "dev-officer", "/")
	require.Equal(t, http.StatusOK, res.StatusCode, "several audiences with azp naming the console are fine: the refusals above are the checks'")
}

// A link on another site must not make an officer's browser write records (issue #26,
// finding 5): a view is recorded only for a navigation from the console itself or typed.
func TestConsole_ACrossSiteNavigationRecordsNoView(t *testing.T) {
	w := newWorld(t)
	b := w.login(t, "dev-officer")
	count := func() int {
		n := 0
		for _, r := range w.audit.Records() {
			if r.Operation == "console.view-case" {
				n++
			}
		}
		return n
	}
	for site, recorded := range map[string]bool{"cross-site": false, "same-site": false, "same-origin": true, "none": true, "": true} {
		before := count()
		req, _ := http.NewRequest(http.MethodGet, w.url+"/cases/"+caseID, nil)
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		res, err := b.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, recorded, count() == before+1, "Sec-Fetch-Site %q", site)
	}
}

// Anyone can send a refused API call naming a case id of their choosing (issue #26, findings 3
// and 6): such calls make no case, and an id is path material only after escaping.
func TestConsole_IdsAreNeverPathMaterial(t *testing.T) {
	mem := &audit.MemoryStore{}
	w := newWorldOn(t, stores{audit: mem, notices: konkursvarsel.NewMemoryStore(), outbox: &konkursvarsel.FileOutbox{Dir: t.TempDir()}})
	evil := "../login?return=%2F%09%2Fevil.example"
	ctx := context.Background()
	require.NoError(t, mem.Append(ctx, &audit.Record{Time: time.Now(), Operation: "listAccounts", AccountInfoRequestID: evil, Status: 401, Reason: "token:missing"}))
	require.NoError(t, mem.Append(ctx, &audit.Record{Time: time.Now(), Operation: "listAccounts", AccountInfoRequestID: evil, Consumer: "0192:999999999",
		PartyID: "910000000", Status: 403, Reason: "token:consumer"}))
	b := w.login(t, "dev-officer")
	_, page := get(t, b, w.url+"/")
	require.NotContains(t, page, "evil.example", "refused calls of anyone make no case")
	_, page = get(t, b, w.url+"/cases/"+caseID)
	require.NotContains(t, page, "910000000", "another client's refused call adds no party to a real case")

	require.NoError(t, mem.Append(ctx, &audit.Record{Time: time.Now(), Operation: "listAccounts", AccountInfoRequestID: evil, Consumer: "0192:974760673",
		PartyID: "910336819", Status: 200}))
	_, page = get(t, b, w.url+"/")
	require.Contains(t, page, `href="/cases/..%2Flogin%3Freturn=%252F%2509%252Fevil.example"`)
	require.NotContains(t, page, `href="/cases/../login`)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// A user whose ID token carries no console role is refused at sign-in, and the refusal is
// recorded; the same user is let in when the console reads the claim that has the role.
func TestConsole_SignInNeedsARole(t *testing.T) {
	mem := &audit.MemoryStore{}
	w := newWorldOn(t, stores{audit: mem, notices: konkursvarsel.NewMemoryStore(), outbox: &konkursvarsel.FileOutbox{Dir: t.TempDir()}, roleClaim: "groups"})
	b := browser(t)
	res, err := b.Get(w.url + "/login?return=/")
	require.NoError(t, err)
	authorize, _ := url.Parse(res.Header.Get("Location"))
	form := authorize.Query()
	form.Set("user", "dev-officer")
	res, err = b.PostForm(authorize.Scheme+"://"+authorize.Host+"/authorize", form)
	require.NoError(t, err)
	res, err = b.Get(res.Header.Get("Location"))
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, string(body), "no role for this console")
	last := mem.Records()[len(mem.Records())-1]
	require.Equal(t, "console.login", last.Operation)
	require.Contains(t, last.Detail, "refused")
	res, _ = get(t, b, w.url+"/")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "no session was given")

	newWorld(t).login(t, "dev-officer") // with the roles claim, the same user signs in
}

// A case report exports as CSV: a row a call, times in UTC, numbers masked as on the page.
func TestConsole_CaseReportExportsAsCSV(t *testing.T) {
	w := newWorld(t)
	b := w.login(t, "dev-viewer")
	res, body := get(t, b, w.url+"/cases/"+caseID+"?format=csv")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	require.Len(t, lines, 3, "a header and the two calls")
	require.True(t, strings.HasPrefix(lines[0], "case,kind,audit_seq,time_utc"))
	require.Regexp(t, `,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z,`, lines[1])
	require.NotContains(t, body, person)
	require.Contains(t, body, "080860***** ~")
}
