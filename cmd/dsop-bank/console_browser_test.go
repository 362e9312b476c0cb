package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

var screenshots = flag.Bool("console.screenshots", false, "write screenshots of the compliance console's main pages to testdata/console/ (for review and the README)")

// chromium finds the browser of the distribution's package; without one the browser tests skip
// visibly, unless DSOP_REQUIRE_BROWSER=1 (CI) makes that a failure.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("DSOP_REQUIRE_BROWSER") == "1" {
		t.Fatal("DSOP_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install chromium)")
	}
	t.Skip("SKIP browser: no Chromium found (apt-get install chromium); set DSOP_REQUIRE_BROWSER=1 to require it")
	return ""
}

// The compliance console in a real browser, against a server started as `make run` starts it:
// sign in through the development issuer's OpenID Connect flow, find a case made by real API
// calls, check its delivered counts, reveal an identity as an officer (and see the reveal
// recorded), acknowledge an instruction, see a tampered audit log reported as broken, then be
// refused the reveal as a viewer.
func TestConsole_InARealBrowser(t *testing.T) {
	exe := chromium(t)
	addr, consoleAddr := freeAddr(t), freeAddr(t)
	state := t.TempDir()
	env := map[string]string{"DSOP_ADDR": addr, "DSOP_DEV_ISSUER_ADDR": freeAddr(t), "DSOP_MOCK_KONKURSVARSEL_ADDR": freeAddr(t),
		"DSOP_ADMIN_ADDR": freeAddr(t), "DSOP_STATE_DIR": state, "DSOP_CONSOLE_ADDR": consoleAddr}
	srv := startServer(t, env)
	ctx, getenv, stdout, stderr := srv.ctx, srv.getenv, srv.stdout, srv.stderr
	defer func() { require.NoError(t, srv.stop()) }()
	waitForOutput(t, stdout, "Compliance console: ", stderr)
	consoleURL := "http://" + consoleAddr
	require.Contains(t, stdout.String(), "Compliance console: "+consoleURL+"/")

	// A case made by real API calls: step 2a for a bankrupt person, then 2b on each account.
	const person, caseID = "08086001471", "5b0c64a2-1f4e-4c3a-9b7e-3d2f1e0a9c11"
	var tok bytes.Buffer
	require.NoError(t, run(ctx, []string{"dev-token"}, getenv, &tok, stderr))
	today := time.Now().In(mustOslo(t)).Format(time.DateOnly)
	call := func(path, party string, out any) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		for k, v := range map[string]string{"Authorization": "Bearer " + strings.TrimSpace(tok.String()), "AccountInfoRequestID": caseID,
			"CorrelationID": "14fbc062-aacb-4449-93c1-85c352d387a4", "Legal-Mandate": "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721", "Accept": "application/json"} {
			req.Header.Set(k, v)
		}
		if party != "" {
			req.Header.Set("PartyID", party)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, path)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	var list struct {
		Accounts []struct{ AccountReference string } `json:"accounts"`
	}
	call("/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate="+today, person, &list)
	require.NotEmpty(t, list.Accounts)
	transactions := 0
	for _, a := range list.Accounts {
		var page struct {
			Transactions []json.RawMessage `json:"transactions"`
		}
		call(fmt.Sprintf("/v2/accounts/%s/transactions?fromDate=2017-06-08&toDate=%s", a.AccountReference, today), "", &page)
		transactions += len(page.Transactions)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first run starts the browser and must not have a deadline; the steps after it do.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("about:blank")))
	tctx, tcancel := context.WithTimeout(bctx, 2*time.Minute)
	defer tcancel()
	defer func() {
		if !t.Failed() {
			return
		}
		// What the browser and the server saw, for a failure that only happens elsewhere.
		dctx, dcancel := context.WithTimeout(bctx, 10*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		t.Logf("browser at %s:\n%.3000s\nserver log:\n%s", loc, page, stderr.String())
	}()
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(tctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return strings.TrimSpace(v)
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			if !*screenshots {
				return chromedp.Void{}, nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			dir := filepath.Join("..", "..", "testdata", "console")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		}
	}

	// Sign in as the officer: the console sends the browser to the development issuer.
	do(chromedp.Navigate(consoleURL+"/"), chromedp.WaitVisible(css(`#signin-dev-officer`)), shot("sign-in"),
		chromedp.Click(css(`#signin-dev-officer`)), chromedp.WaitVisible(css(`#cases`)))
	require.Equal(t, "officer", strings.ToLower(text(`#role`)))
	// Find the case by the person's number (typed, never put in the address) and open it.
	// Each step waits for something only the page it leads to has (the list before the search has
	// the case too).
	do(chromedp.SendKeys(css(`#party`), person), chromedp.Click(css(`#search`)),
		chromedp.WaitVisible(css(`#party[placeholder^="080860*****"]`)), chromedp.WaitVisible(css(`a.case-link`)), shot("cases"))
	body := text(`#cases`)
	require.Contains(t, body, caseID)
	require.NotContains(t, body, person)
	location, err := chromedp.Run(tctx, chromedp.Location())
	require.NoError(t, err)
	require.NotContains(t, location, person, "the number is not in the address")
	do(chromedp.Click(css(`a.case-link`)), chromedp.WaitVisible(css(`#summary`)), shot("case"))
	require.Equal(t, fmt.Sprint(len(list.Accounts)), text(`#delivered-accounts`))
	require.Equal(t, fmt.Sprint(transactions), text(`#delivered-transactions`))
	body = text(`main`)
	require.NotContains(t, body, person)
	require.Contains(t, body, "080860*****")

	// Reveal, as the officer: the number shows, and the reveal is listed among the accesses.
	do(chromedp.Click(css(`.reveal-button`)), chromedp.WaitVisible(css(`.revealed`)))
	require.Equal(t, person, text(`.revealed`))
	require.Contains(t, text(`#access`), "console.reveal")
	require.Contains(t, text(`#access`), "Olivia Officer")

	// Acknowledge a block instruction.
	do(chromedp.Navigate(consoleURL+"/konkursvarsel"), chromedp.WaitVisible(css(`#actions`)), shot("konkursvarsel"),
		chromedp.Click(css(`.ack-button`)), chromedp.WaitVisible(css(`#actions .ok`)))
	require.Contains(t, text(`#actions`), "Olivia Officer")

	// A verified log, then a tampered one: the console says which.
	do(chromedp.Navigate(consoleURL+"/health"), chromedp.Click(css(`#verify`)), chromedp.WaitVisible(css(`#last-verify .ok`)), shot("health"))
	segs, err := filepath.Glob(filepath.Join(state, "audit", "audit-*.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	raw, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	nl := bytes.IndexByte(raw, '\n')
	tampered := regexp.MustCompile(`"status":200`).ReplaceAll(raw[:nl], []byte(`"status":404`))
	require.NotEqual(t, string(raw[:nl]), string(tampered), "a record was changed")
	require.NoError(t, os.WriteFile(segs[0], append(tampered, raw[nl:]...), 0o600))
	do(chromedp.Click(css(`#verify`)), chromedp.WaitVisible(css(`#last-verify .bad`)))
	require.Contains(t, text(`#last-verify`), "BROKEN at record 1")

	// Sign out. A copy of the session cookie taken before (issue #26) is worth nothing after:
	// the session ended on the server.
	jar, err := chromedp.Run(tctx, chromedp.Action[*network.GetCookiesResult](func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{consoleURL + "/"}})
		return &res, err
	}))
	require.NoError(t, err)
	var copied *network.Cookie
	for _, c := range jar.Cookies {
		if c.Name == "dsop_console" {
			copied = c
		}
	}
	require.NotNil(t, copied, "the session cookie")
	require.True(t, copied.HTTPOnly)
	require.Equal(t, network.CookieSameSiteStrict, copied.SameSite)
	do(chromedp.Click(css(`header form button`)), chromedp.WaitVisible(css(`main a.button`)), shot("signed-out"))
	do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		httpOnly := true
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: copied.Name, Value: copied.Value, URL: consoleURL + "/",
			HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict})
		return chromedp.Void{}, err
	}, chromedp.Navigate(consoleURL+"/activity"), chromedp.WaitVisible(css(`#signin-dev-viewer`)))

	// In again as the viewer: no reveal, and a forged reveal form is refused.
	do(chromedp.Navigate(consoleURL+"/"), chromedp.WaitVisible(css(`#signin-dev-viewer`)),
		chromedp.Click(css(`#signin-dev-viewer`)), chromedp.WaitVisible(css(`#cases`)))
	require.Equal(t, "viewer", strings.ToLower(text(`#role`)))
	do(chromedp.Navigate(consoleURL+"/cases/"+caseID), chromedp.WaitVisible(css(`#summary`)))
	reveals, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('.reveal-button').length`))
	require.NoError(t, err)
	require.Zero(t, reveals, "a viewer is offered no reveal")
	_, err = chromedp.Run(tctx, chromedp.Evaluate[bool](`(() => {
		const f = document.createElement('form');
		f.method = 'post'; f.action = '/cases/`+caseID+`/reveal';
		for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['seq', '1']]) {
			const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
		}
		document.body.appendChild(f); f.submit(); return true;
	})()`))
	require.NoError(t, err)
	do(chromedp.WaitVisible(css(`#error`)))
	body = text(`main`)
	require.Contains(t, body, "Only compliance officers may do this")
	require.NotContains(t, body, person)
	do(chromedp.Navigate(consoleURL+"/activity"), chromedp.WaitVisible(css(`#activity`)), shot("access-log"))
	body = text(`#activity`)
	for _, op := range []string{"console.refused", "console.verify", "console.ack", "console.reveal", "console.view-case", "console.login"} {
		require.Contains(t, body, op)
	}

	// The CLI shows the console's records too.
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"audit", "query", "--format", "json"}, getenv, &out, stderr))
	require.Contains(t, out.String(), `"operation":"console.reveal"`)
}
