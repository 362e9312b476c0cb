package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// Query implements audit.Querier: one statement per page, answered from the indexes of migration
// 0006. The filters mean what audit.Query.Match says (the store suite checks that they agree).
func (s *AuditStore) Query(ctx context.Context, q audit.Query) (audit.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = audit.DefaultLimit
	}
	limit = min(limit, audit.MaxLimit)
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	for _, f := range []struct{ col, v string }{
		{"account_info_request_id", q.Case}, {"party_id", q.Party}, {"consumer", q.Consumer}, {"service", q.Service},
		{"client", q.Client}, {"correlation_id", q.Correlation}, {"operation", q.Operation}, {"reason", q.Reason}, {"kind", string(q.Kind)},
	} {
		if f.v != "" {
			add(f.col+" = $?", f.v)
		}
	}
	switch q.Outcome {
	case audit.OutcomeAllowed:
		where = append(where, "status BETWEEN 200 AND 299")
	case audit.OutcomeRefused:
		where = append(where, "status NOT BETWEEN 200 AND 299")
	}
	if q.Status != 0 {
		add("status = $?", q.Status)
	}
	if !q.From.IsZero() {
		add("recorded_at >= $?", q.From)
	}
	if !q.Until.IsZero() {
		add("recorded_at < $?", q.Until)
	}
	order := "DESC"
	if q.Oldest {
		order = "ASC"
		if q.After != 0 {
			add("seq > $?", int64(q.After))
		}
	} else if q.Before != 0 {
		add("seq < $?", int64(q.Before))
	}
	sql := "SELECT seq, record FROM audit_records"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	sql += fmt.Sprintf(" ORDER BY seq %s LIMIT $%d", order, len(args))
	rows, err := s.Pool.Query(ctx, sql, args...)
	if err != nil {
		return audit.Page{}, fmt.Errorf("query audit records: %w", err)
	}
	defer rows.Close()
	var p audit.Page
	for rows.Next() {
		var seq int64
		var raw string
		if err := rows.Scan(&seq, &raw); err != nil {
			return audit.Page{}, err
		}
		if len(p.Records) == limit {
			last := p.Records[len(p.Records)-1].Seq
			p.Next = last // exclusive in both directions
			break
		}
		r, err := audit.Decode([]byte(raw))
		if err != nil {
			return audit.Page{}, &audit.ScanError{Where: fmt.Sprintf("audit_records seq %d", seq), Err: err}
		}
		p.Records = append(p.Records, r)
	}
	if err := rows.Err(); err != nil {
		return audit.Page{}, fmt.Errorf("query audit records: %w", err)
	}
	return p, nil
}

// Count implements audit.Querier with a GROUP BY the database answers from a partial index in
// key order: nothing of the log is held in this process.
func (s *AuditStore) Count(ctx context.Context, q audit.CountQuery, fn func(key string, n int) error) error {
	since := "true"
	args := []any{q.Over}
	if !q.Since.IsZero() {
		since, args = "recorded_at >= $2", append(args, q.Since)
	}
	var sql string
	switch q.By {
	case audit.CountCase:
		sql = `SELECT account_info_request_id, count(*) FROM audit_records WHERE kind = 'call' AND account_info_request_id <> '' AND ` + since + `
			GROUP BY account_info_request_id HAVING count(*) > $1 ORDER BY account_info_request_id`
	case audit.CountParty:
		sql = `SELECT party_id, count(*) FROM audit_records WHERE kind = 'call' AND party_id <> '' AND ` + since + `
			GROUP BY party_id HAVING count(*) > $1 ORDER BY party_id`
	case audit.CountTokenFailures:
		sql = `SELECT coalesce(nullif(client, ''), '(address not recorded)'), count(*) FROM audit_records WHERE reason LIKE 'token:%' AND ` + since + `
			GROUP BY 1 HAVING count(*) > $1 ORDER BY 1`
	default:
		return fmt.Errorf("audit count by %q: unknown grouping", q.By)
	}
	rows, err := s.Pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("count audit records: %w", err)
	}
	var key string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&key, &n}, func() error { return fn(key, n) })
	if err != nil {
		return fmt.Errorf("count audit records: %w", err)
	}
	return nil
}
