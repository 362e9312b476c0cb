package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// An audit record is built from three explicit parts (buildRecord): the request as received
// (read from the *http.Request the server was handed), what the layers in front of the handlers
// established about it (call: its operation, its caller, the format asked for, its address), and
// what the handler decided and delivered (decisionFacts, which the handler returns with its answer
// or its error). The outcome — status, ACC code, reason — is the answer itself.

// call is what the layers in front of the handlers establish about a request, each setting its
// own fields once: the route its operation, authenticate its caller, negotiate its format, the
// record layer its address. Inner layers read it (admission by consumer, the encrypter's
// consumer); the handlers never write it.
type call struct {
	operation     string
	route         string // the path template, e.g. /v2/accounts/{accountReference}
	claims        validation.Claims
	authenticated bool // the token was valid and its consumer allowed
	format        format
	client        string   // the caller's address (clientAddr)
	profile       *Profile // the service the request was routed to; nil before routing
	correlationID string   // the request's CorrelationID header, sanitised
}

// CorrelationID is the CorrelationID of the DSOP request ctx serves ("" outside one): the live
// bank-core connector sends it on as X-Request-ID, so the core's logs match the audit log.
func CorrelationID(ctx context.Context) string { return callOf(ctx).correlationID }

type callKey struct{}

func callOf(ctx context.Context) *call {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return c
	}
	return &call{}
}

// bufferedWriter holds the answer until its audit record is durable.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	// delivered is the JSON body of a 200 answer, handed over whole by okResponse (no copy of a
	// large page); seal, when set, encrypts it for the consumer; release, when set, gives its
	// memory back for the next page.
	delivered []byte
	seal      encryption.Seal
	release   func()
	// facts are the handler's decision, handed over with its answer (deliver) or its refusal
	// (api.fail); problem is the refusal written, coalesce marks one recorded a second at a time.
	facts    decisionFacts
	problem  *Problem
	coalesce bool
}

// deliver keeps body as the delivered JSON of a 200 answer, with the handler's decision; the
// caller gives up body.
func (b *bufferedWriter) deliver(body []byte, seal encryption.Seal, release func(), facts decisionFacts) {
	b.status = http.StatusOK
	b.delivered, b.seal, b.release, b.facts = body, seal, release, facts
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) reset() {
	b.header, b.status, b.delivered, b.seal, b.release, b.problem = http.Header{}, 0, nil, nil, nil, nil
	b.body.Reset()
}

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.body.Len() == 0 {
		b.body.Grow(len(p)) // a body usually comes in one write: one allocation of its size
	}
	return b.body.Write(p)
}

// record is the outermost layer: every request, allowed or refused, gets exactly one audit record,
// and the answer leaves only after the record is durable. If it cannot be written, the caller
// gets 500 ACC-100 and nothing of the answer (konkursbehandling-rules.md §7).
func (a *api) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := a.Now()
		ex := &call{}
		buf := &bufferedWriter{header: http.Header{}}
		ctx := a.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := a.Tracer.Start(ctx, "dsop.request", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		ex.client = a.clientAddr(r)
		ex.correlationID = sanitize(r.Header.Get("CorrelationID"))
		ctx = context.WithValue(ctx, callKey{}, ex)
		next.ServeHTTP(buf, r.WithContext(ctx))
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		build := func() audit.Record {
			rec := buildRecord(r, ex, buf.facts, outcomeOf(buf))
			rec.Time = start
			rec.LatencyMS = float64(a.Now().Sub(start).Microseconds()) / 1000
			if audit.KindOf(rec) == audit.KindUnauthenticated {
				// Anyone can send these: their record is capped (audit.Compact, issue #25).
				audit.Compact(&rec)
			}
			return rec
		}
		if out := outcomeOf(buf); buf.coalesce && !a.coalesce.admit(ex.client+"\x00"+out.Code+"\x00"+out.Reason, start, build) {
			// Counted into the record of its second (ClientAdmission): answered at once, and
			// cheaply — a flood's requests build no record of their own.
			for k, v := range buf.header {
				w.Header()[k] = v
			}
			w.WriteHeader(buf.status)
			_, _ = w.Write(buf.body.Bytes())
			a.Observer.Request(ctx, ex.serviceName(), ex.operation, out.Code, buf.status, a.Now().Sub(start))
			a.Observer.Record(ctx, out.Status, audit.KindUnauthenticated, 0)
			return
		}
		if buf.delivered != nil && a.Answers != nil {
			// The answer's share of the memory budget, taken before its record is written: over
			// the budget it is refused (and recorded as refused), never half delivered.
			release, ok := a.Answers.Acquire(ctx, answerWeight(len(buf.delivered), buf.seal != nil))
			if !ok {
				if buf.release != nil {
					buf.release()
				}
				buf.reset()
				buf.header.Set("Retry-After", "1")
				a.fail(buf, r, errAnswerMemory)
			} else {
				defer release() // after the answer has been written
			}
		}
		rec := build()
		// The record is written even if the request's deadline has passed — but under a deadline
		// of its own, so that a frozen database cannot hold the request (and its memory) forever:
		// what is left of the request's time, and at least AuditTimeout.
		commit := func() error {
			rec.Body = buf.delivered // the store hashes it into the record (audit.Record.HashBody)
			actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), a.auditTimeout(ctx))
			defer acancel()
			actx, aspan := a.Tracer.Start(actx, "audit.write")
			defer aspan.End()
			auditStart := time.Now()
			err := a.Audit.Append(actx, &rec)
			a.Observer.AuditWrite(ctx, time.Since(auditStart))
			return err
		}
		body, status, code := buf.body.Bytes(), buf.status, rec.Code
		if buf.delivered != nil {
			body = buf.delivered
		}
		var err, sealErr error
		var releaseSealed func()
		if buf.seal != nil {
			// The body is encrypted while its record is hashed and written (issue #15): one
			// waits on the CPU, the other mostly on the disk. The answer still leaves only when
			// both are done, and only if the record is durable.
			committed := make(chan error, 1)
			go func() { committed <- commitSafely(commit) }()
			body, releaseSealed, sealErr = sealBody(ctx, buf.seal, buf.delivered)
			err = <-committed
		} else {
			err = commitSafely(commit)
		}
		switch {
		case err != nil:
			status, code = errAuditWrite.Status, errAuditWrite.Code
			a.Logger.ErrorContext(ctx, "audit record could not be written; answer withheld", "error", err.Error(),
				"correlation_id", sanitize(r.Header.Get("CorrelationID")))
			w.Header().Set("Retry-After", "1")
			writeProblem(w, errAuditWrite)
		case sealErr != nil:
			status, code = errWithheld.Status, errWithheld.Code
			a.withhold(ctx, r, ex, buf.facts, &rec, sealErr)
			writeProblem(w, errWithheld)
		default:
			for k, v := range buf.header {
				w.Header()[k] = v
			}
			w.WriteHeader(buf.status)
			_, _ = w.Write(body)
			// Only now is nothing left holding the delivered body: the record is durable and
			// its hash taken, the encryption (if any) done, the answer written (a writer keeps
			// nothing of what it is given). After any failure the store may still hold it, so
			// it is left to the collector. The same goes for the encrypted answer.
			if buf.release != nil {
				buf.release()
			}
			if releaseSealed != nil {
				releaseSealed()
			}
		}
		a.Observer.Record(ctx, status, audit.KindOf(rec), len(rec.Raw))
		span.SetName("dsop " + ex.operation)
		span.SetAttributes(attribute.String("dsop.operation", ex.operation), attribute.Int("http.response.status_code", status),
			attribute.String("dsop.code", code), attribute.String("dsop.correlation_id", sanitize(r.Header.Get("CorrelationID"))))
		if status >= 500 {
			span.SetStatus(codes.Error, code)
		}
		a.Observer.Request(ctx, ex.serviceName(), ex.operation, code, status, a.Now().Sub(start))
		a.logAccess(ctx, r, ex, rec.Reason, status, code, rec.LatencyMS, rec.Seq)
	})
}

// commitSafely writes the record; a panic in the audit store is a failed write, so that the
// request is still answered (500 ACC-100) rather than its connection dropped.
func commitSafely(commit func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("audit write: panic: %v", v)
		}
	}()
	return commit()
}

// sealBody encrypts a delivered body; a panic in the encryption withholds the answer like an
// error.
func sealBody(ctx context.Context, fn encryption.Seal, plain []byte) (out []byte, release func(), err error) {
	defer func() {
		if v := recover(); v != nil {
			out, release, err = nil, nil, fmt.Errorf("encrypt: panic: %v", v)
		}
	}()
	return fn(ctx, plain)
}

// withhold records that a body could not be encrypted after its record was written (the
// consumer's certificate was found before, so only a fault of the encryption itself gets here):
// nothing leaves, and a second record says that the answer of the first was withheld, so that the
// log never shows a delivery without saying it did not happen.
func (a *api) withhold(ctx context.Context, r *http.Request, ex *call, facts decisionFacts, delivered *audit.Record, cause error) {
	a.Logger.ErrorContext(ctx, "answer could not be encrypted after its audit record was written; answer withheld",
		"error", cause.Error(), "audit_seq", delivered.Seq, "correlation_id", sanitize(r.Header.Get("CorrelationID")))
	rec := buildRecord(r, ex, facts, errWithheld)
	rec.Time, rec.LatencyMS, rec.Withholds = a.Now(), delivered.LatencyMS, delivered.Seq
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.auditTimeout(ctx))
	defer cancel()
	if err := commitSafely(func() error { return a.Audit.Append(actx, &rec) }); err != nil {
		a.Logger.ErrorContext(ctx, "the record of a withheld answer could not be written", "error", err.Error(), "audit_seq", delivered.Seq)
	}
}

// auditTimeout is how long the audit write may take: the rest of the request's deadline, but no
// less than AuditTimeout (default 5 s).
func (a *api) auditTimeout(ctx context.Context) time.Duration {
	floor := a.AuditTimeout
	if floor <= 0 {
		floor = 5 * time.Second
	}
	if a.RequestTimeout > 0 {
		// The answer comes within about twice the request's deadline, whatever the store does
		// (issue #29: 8 s for a 3 s deadline).
		floor = min(floor, a.RequestTimeout)
	}
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), floor)
	}
	return floor
}

// logAccess writes one access-log line: the route, the outcome and why, the caller and the case,
// the trace — never the token or a full identity number.
func (a *api) logAccess(ctx context.Context, r *http.Request, ex *call, reason string, status int, code string, ms float64, seq uint64) {
	attrs := []any{
		"method", sanitize(r.Method),
		"route", ex.route,
		"operation", ex.operation,
		"status", status,
		"code", code,
		"reason", reason,
		"consumer", ex.claims.ConsumerID,
		"correlation_id", sanitize(r.Header.Get("CorrelationID")),
		"account_info_request_id", sanitize(r.Header.Get("AccountInfoRequestID")),
		"client", sanitize(r.RemoteAddr),
		"audit_seq", seq,
		"latency_ms", ms,
	}
	if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
		attrs = append(attrs, "forwarded_for", sanitize(fwd))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, "trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
	}
	a.Logger.InfoContext(ctx, "request", attrs...)
}

// outcomeOf is the answer a request got: the refusal written (api.fail), or the status written.
func outcomeOf(buf *bufferedWriter) *Problem {
	if buf.problem != nil {
		return buf.problem
	}
	return &Problem{Status: buf.status}
}

// buildRecord is the audit record of a request: the request as received (r is the request the
// server was handed, never the normalised copy the router passes on; the path keeps its
// percent-encoding), what the front layers established (c), the handler's decision (d) and the
// outcome (out).
func buildRecord(r *http.Request, c *call, d decisionFacts, out *Problem) audit.Record {
	h := r.Header
	q, _ := url.ParseQuery(r.URL.RawQuery)
	onlyPrimary, _, _ := validation.OnlyPrimaryOwner(q)
	mandate := d.legalMandate
	if mandate == "" && h.Get("Legal-Mandate") != "" {
		if dec, err := validation.DecodeMandate(h.Get("Legal-Mandate")); err == nil {
			mandate = dec
		} else {
			mandate = h.Get("Legal-Mandate")
		}
	}
	party := d.party
	if party == "" {
		party = h.Get("PartyID")
	}
	rec := audit.Record{
		Service:                   c.serviceName(),
		Operation:                 c.operation,
		Method:                    audit.Field(r.Method),
		Path:                      audit.Field(r.URL.EscapedPath()),
		Client:                    c.client,
		Consumer:                  c.claims.ConsumerID,
		ClientID:                  c.claims.ClientID,
		TokenJTI:                  c.claims.JTI,
		AccountInfoRequestID:      audit.Field(h.Get("AccountInfoRequestID")),
		CorrelationID:             audit.Field(h.Get("CorrelationID")),
		LegalMandate:              audit.Field(mandate),
		PartyID:                   audit.Field(party),
		AccountReference:          audit.Field(d.accountRef),
		FromDate:                  audit.Field(q.Get("fromDate")),
		ToDate:                    audit.Field(q.Get("toDate")),
		OnlyPrimaryOwner:          audit.Field(onlyPrimary),
		AdditionalReferenceID:     audit.Field(h.Get("AdditionalReferenceID")),
		AdditionalReferenceIDType: audit.Field(h.Get("AdditionalReferenceIDType")),
		RequesterID:               audit.Field(h.Get("RequesterID")),
		PageCursor:                audit.Field(q.Get("page")),
		NoticeUUID:                d.notice.OpeningUUID,
		NoticeType:                noticeType(d.notice),
		Kjennelsesdato:            d.notice.Kjennelsesdato.String(),
		AccountNumbers:            d.accountNumbers,
		Spells:                    d.spells,
		Status:                    out.Status,
		Code:                      out.Code,
		Reason:                    out.Reason,
		Accounts:                  d.accounts,
		Transactions:              d.transactions,
		Fields:                    d.fields,
	}
	if d.notice.Status != "" && d.notice.Status != konkursvarsel.StatusOpen && d.notice.LastNoticeUUID != "" {
		// The notice in force at the time of the call: the annulment or closing that ended the
		// bankruptcy, not the opening (issue #26).
		rec.NoticeUUID = d.notice.LastNoticeUUID
	}
	if out.Status != http.StatusOK {
		// Only a delivered answer has delivered content.
		rec.Accounts, rec.Transactions, rec.Fields, rec.Spells = nil, nil, nil, nil
	}
	return rec
}

// serviceName is the DSOP service the request was routed to (recorded on every call); empty
// for a request refused before it could be routed.
func (c *call) serviceName() string {
	if c.profile == nil {
		return ""
	}
	return c.profile.Service.Name
}

// noticeType names the notice in force for a record: aapning while the bankruptcy is open, else
// the notice type that ended it.
func noticeType(st konkursvarsel.DebtorState) string {
	t, _ := konkursvarsel.TypeFor(st.Status)
	return string(t)
}
