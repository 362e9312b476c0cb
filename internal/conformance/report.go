package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// WriteTable writes the readable table: case, result, evidence.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CASE\tRESULT\tEVIDENCE\n")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.Case.ID, res.Status, printable(clip(res.Evidence, 160)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s: %d passed, %d failed, %d skipped\n", r.BaseURL, r.Count(Pass), r.Count(Fail), r.Count(Skip))
	return err
}

type jsonCase struct {
	ID         string  `json:"id"`
	Category   string  `json:"category"`
	Title      string  `json:"title"`
	Status     Status  `json:"status"`
	Evidence   string  `json:"evidence"`
	DurationMS float64 `json:"duration_ms"`
	Checks     string  `json:"checks"`
	Why        string  `json:"why"`
	Ref        string  `json:"ref"`
}

// WriteJSON writes the report as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	out := struct {
		BaseURL string     `json:"base_url"`
		Started time.Time  `json:"started"`
		Passed  int        `json:"passed"`
		Failed  int        `json:"failed"`
		Skipped int        `json:"skipped"`
		Cases   []jsonCase `json:"cases"`
	}{BaseURL: r.BaseURL, Started: r.Started, Passed: r.Count(Pass), Failed: r.Count(Fail), Skipped: r.Count(Skip)}
	for _, res := range r.Results {
		out.Cases = append(out.Cases, jsonCase{res.Case.ID, res.Case.Category(), res.Case.Title, res.Status, res.Evidence,
			float64(res.Duration.Microseconds()) / 1000, res.Case.Checks, res.Case.Why, res.Case.Ref})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteJUnit writes the report in the JUnit XML format CI systems read.
func (r Report) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName   xml.Name   `xml:"testsuite"`
		Name      string     `xml:"name,attr"`
		Tests     int        `xml:"tests,attr"`
		Failures  int        `xml:"failures,attr"`
		Skipped   int        `xml:"skipped,attr"`
		Timestamp string     `xml:"timestamp,attr"`
		Cases     []testcase `xml:"testcase"`
	}
	s := suite{Name: "dsop-conformance " + r.BaseURL, Tests: len(r.Results), Failures: r.Count(Fail), Skipped: r.Count(Skip),
		Timestamp: r.Started.UTC().Format(time.RFC3339)}
	for _, res := range r.Results {
		tc := testcase{Name: res.Case.ID + " " + res.Case.Title, Classname: "dsop.conformance." + res.Case.Category(), Time: fmt.Sprintf("%.3f", res.Duration.Seconds())}
		ev := printable(res.Evidence)
		// Every case carries its standard reference and what it checks, passed or not: the
		// evidence a bank hands Bits at onboarding (issue #27).
		about := "Category: " + res.Case.Category() + "\nStandard: " + res.Case.Ref + "\nChecks: " + res.Case.Checks + "\nWhy: " + res.Case.Why
		switch res.Status {
		case Fail:
			tc.Failure = &failure{Message: clip(ev, 200), Text: ev + "\n" + about}
		case Skip:
			tc.Skipped = &skipped{Message: ev}
			tc.SystemOut = about
		default:
			tc.SystemOut = ev + "\n" + about
		}
		s.Cases = append(s.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// printable keeps evidence on one line and free of terminal control characters: it quotes what
// another bank's server sent.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
