package console

import (
	"net/http"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/compliance"
)

// exportCSV answers a case report as CSV (compliance.WriteCSV: the CLI's export too), numbers
// masked as on the page.
func (c *Console) exportCSV(w http.ResponseWriter, cs compliance.Case) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="case-`+safeName(cs.ID)+`.csv"`)
	_ = c.present.WriteCSV(w, cs, false)
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
