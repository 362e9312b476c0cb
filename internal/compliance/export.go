package compliance

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// WriteCSV writes case c as CSV, one row per call — the case's calls, then the refused calls of
// others that named it — with times in UTC: the export of the console (?format=csv) and of the
// CLI (audit case --format csv) alike. Identity and account numbers are masked unless reveal.
func (p *Presenter) WriteCSV(w io.Writer, c Case, reveal bool) error {
	show := p.MaskText
	if reveal {
		show = func(s string) string { return s }
	}
	count := func(n *int) string {
		if n == nil {
			return ""
		}
		return strconv.Itoa(*n)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"case", "kind", "audit_seq", "time_utc", "operation", "method", "path", "status", "code", "reason", "consumer", "client",
		"legal_mandate", "notice_in_force", "party", "account_reference", "account_numbers", "from_date", "to_date", "accounts", "transactions",
		"delivered", "body_sha256", "correlation_id"})
	rows := func(kind string, recs []audit.Record) {
		for _, r := range recs {
			_ = cw.Write([]string{c.ID, kind, strconv.FormatUint(r.Seq, 10), ExportTime(r.Time), r.Operation, r.Method, show(r.Path),
				strconv.Itoa(r.Status), r.Code, r.Reason, r.Consumer, r.Client, r.LegalMandate, NoticeInForce(r), show(r.PartyID),
				r.AccountReference, show(strings.Join(r.AccountNumbers, " ")), r.FromDate, r.ToDate, count(r.Accounts), count(r.Transactions),
				strconv.FormatBool(c.Delivered(r)), r.BodySHA256, r.CorrelationID})
		}
	}
	rows("call", c.Calls)
	rows("refused-unauthenticated", c.Unauthenticated)
	cw.Flush()
	return cw.Error()
}
