package console

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/compliance"
)

// exportCSV writes a case report as CSV, one row per call (the case's calls, then the refused
// calls of others that named it), times in UTC. Identity numbers are masked as on the page unless
// revealed is the one an officer revealed.
func (c *Console) exportCSV(w http.ResponseWriter, cs compliance.Case, revealed string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="case-`+safeName(cs.ID)+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"case", "kind", "audit_seq", "time_utc", "operation", "method", "path", "status", "code", "reason", "consumer", "client",
		"legal_mandate", "notice_in_force", "party", "account_reference", "account_numbers", "from_date", "to_date", "accounts", "transactions",
		"delivered", "body_sha256", "correlation_id"})
	row := func(kind string, r callRow, utc string) {
		_ = cw.Write([]string{cs.ID, kind, strconv.FormatUint(r.Seq, 10), utc, r.Operation, r.Method, r.Path, strconv.Itoa(r.Status), r.Code, r.Reason,
			r.Consumer, r.Client, r.Mandate, r.Notice, r.Party, r.AccountReference, r.AccountNumbers, r.From, r.To, r.Accounts, r.Transactions,
			strconv.FormatBool(r.Delivered), r.BodySHA256, r.Correlation})
	}
	for i, rec := range cs.Calls {
		row("call", c.callRow(i+1, rec, cs, revealed, User{}), compliance.ExportTime(rec.Time))
	}
	for i, rec := range cs.Unauthenticated {
		row("refused-unauthenticated", c.callRow(i+1, rec, cs, "", User{}), compliance.ExportTime(rec.Time))
	}
	cw.Flush()
}

// safeName keeps a file name to letters, digits and dashes.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}
