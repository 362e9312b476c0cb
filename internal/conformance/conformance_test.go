package conformance

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

func TestDefaultParties_AreBRREGsPublishedTestDebtors(t *testing.T) {
	open, refused, err := DefaultParties()
	require.NoError(t, err)
	ids := map[string]string{}
	for _, p := range open {
		ids[p.ID] = p.Anchor.String()
	}
	require.Equal(t, map[string]string{"08086001471": "2018-06-08", "20020101351": "2018-06-08", "21097400153": "2018-07-03",
		"910336819": "2018-06-08", "910491482": "2018-07-01"}, ids, "test-cases.md §2: the debtors whose bankruptcy stays open")
	require.ElementsMatch(t, []string{"08086002265", "19020101140", "910018469", "910375237", "910425463", NeverNotified}, refused)
}

func TestParseParties(t *testing.T) {
	got, err := ParseParties(" 910336819:2018-06-08, 08086001471:2019-01-31 ")
	require.NoError(t, err)
	require.Equal(t, []Party{{"910336819", civil.MustParse("2018-06-08")}, {"08086001471", civil.MustParse("2019-01-31")}}, got)
	for _, bad := range []string{"910336819", "910336818:2018-06-08", "910336819:08.06.2018"} {
		_, err := ParseParties(bad)
		require.Error(t, err, bad)
	}
}

func TestCases_EachIsDescribedForABanksTesters(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		require.False(t, seen[c.ID], "duplicate %s", c.ID)
		seen[c.ID] = true
		require.NotEmpty(t, c.Title, c.ID)
		require.NotEmpty(t, c.Checks, c.ID)
		require.NotEmpty(t, c.Why, c.ID)
		require.NotEmpty(t, c.Ref, c.ID)
		require.NotNil(t, c.run, c.ID)
	}
}

func TestReport_JSONAndJUnit(t *testing.T) {
	cs := Cases()
	rep := Report{BaseURL: "https://api.bank.no/dsop/v2", Started: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Results: []Result{
		{Case: cs[0], Status: Pass, Evidence: "910336819: 2 accounts"},
		{Case: cs[1], Status: Fail, Evidence: "GET /accounts/x → 429 \x1b[31mred"},
		{Case: cs[2], Status: Skip, Evidence: "no accounts"},
	}}
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var doc struct{ Passed, Failed, Skipped int }
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	require.Equal(t, struct{ Passed, Failed, Skipped int }{1, 1, 1}, doc)

	var x bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&x))
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	require.NoError(t, xml.Unmarshal(x.Bytes(), &suite))
	require.Equal(t, 3, suite.Tests)
	require.Equal(t, 1, suite.Failures)
	require.Equal(t, 1, suite.Skipped)
	require.NotNil(t, suite.Cases[1].Failure)
	require.NotContains(t, x.String(), "\x1b", "another bank's text never reaches a terminal or CI log raw")

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "1 passed, 1 failed, 1 skipped")
	require.NotContains(t, table.String(), "\x1b")
}
