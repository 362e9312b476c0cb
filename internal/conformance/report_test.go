package conformance

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The JUnit a bank hands Bits: every case with its category, standard reference and what it
// checks; a pass with the request line and ids; a failure with the status, ACC code and message
// the bank sent (issue #27). Golden: testdata/junit.xml (go test -run JUnit -update).
func TestReport_JUnitCarriesReferencesIdsAndMessages(t *testing.T) {
	cases := map[string]Case{}
	for _, c := range Cases() {
		cases[c.ID] = c
	}
	rep := Report{BaseURL: "https://api.bank.no/dsop/v2", Started: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Results: []Result{
		{Case: cases["REF-WINDOW"], Status: Pass, Duration: 12 * time.Millisecond,
			Evidence: `GET /accounts → 400 ACC-001 "fromDate 2017-06-07 is more than 12 months before the kjennelsesdato 2018-06-08; the earliest allowed fromDate is 2017-06-08" [AccountInfoRequestID 3f1c2a90-1b7e-4c55-9d1a-1f2e3d4c5b6a, CorrelationID 9b2d7e41-0c5a-4f7e-8d13-2a6b9c0e1f22]`},
		{Case: cases["REF-NOT-BANKRUPT"], Status: Fail, Duration: 30 * time.Millisecond,
			Evidence: `party 910425463: GET https://api.bank.no/dsop/v2/accounts → 200 [AccountInfoRequestID 5e6f7a80-2b3c-4d5e-9f60-718293a4b5c6, CorrelationID 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d], expected 403 ACC-011 (or 400 ACC-001); party 889640782: GET https://api.bank.no/dsop/v2/accounts → 500 ACC-100 "technical error at the bank" [AccountInfoRequestID 6f7a8091-3c4d-4e5f-a071-8293a4b5c6d7, CorrelationID 1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e], expected 403 ACC-011 (or 400 ACC-001)`},
		{Case: cases["REF-EXPIRED-TOKEN"], Status: Skip, Evidence: "the token source cannot mint such a token (use the development issuer)"},
	}}
	var got bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&got))
	golden := filepath.Join("testdata", "junit.xml")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, got.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), got.String())
	for _, s := range []string{`classname="dsop.conformance.Validation and expected delivery"`, "Standard: konkursbehandling-rules.md §3.4",
		"CorrelationID 9b2d7e41", `500 ACC-100 &#34;technical error at the bank&#34;`, `classname="dsop.conformance.Deviations and compliance"`} {
		require.Contains(t, got.String(), s)
	}
}
