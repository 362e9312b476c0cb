package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/tracing"
)

func TestTracing_SpanPerRequestWithChildrenAndW3CParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := newHarness(t, func(d *httpapi.Deps) {
		tr := tp.Tracer("test")
		d.Tracer = tr
		d.Propagator = propagation.TraceContext{}
		// The gate and the stores are traced by decorators, wired as cmd/dsop-bank does.
		store := tracing.AccountsStore{Next: d.Accounts.Store, Tracer: tr}
		gate := d.Decide.(*konkursbehandling.Decider).Bankruptcies
		d.Decide = &konkursbehandling.Decider{Bankruptcies: tracing.Gate{Next: gate, Tracer: tr}, Accounts: store}
		svc := *d.Accounts
		svc.Store = store
		d.Accounts = &svc
		d.Encrypter = tracing.Encryption{Next: d.Encrypter, Tracer: tr}
	})
	hd := h.headers(openOrg)
	hd.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	require.Equal(t, 200, h.do(http.MethodGet, accountsURL(earliest, today), hd).Code)
	// The same call as JWE: the certificate lookup and the encryption (which runs while the
	// audit record is written) are spans of the same trace.
	require.Equal(t, 200, h.do(http.MethodGet, accountsURL(earliest, today), withAccept(hd, "application/jose")).Code)
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()] = true
		require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String(), "continues the caller's trace")
		for _, a := range s.Attributes() {
			require.False(t, strings.Contains(a.Value.String(), openOrg) || strings.HasPrefix(a.Value.String(), "eyJ"), "no identity numbers or tokens in spans: %s", a.Key)
		}
	}
	for _, want := range []string{"dsop listAccounts", "token.validate", "store.notices", "store.accounts", "store.servicer", "store.party", "audit.write", "encrypt.certificate", "encrypt"} {
		require.True(t, names[want], "span %s (have %v)", want, names)
	}
}

// The access log line says which route, the outcome and why, who called from where, and the trace
// — and never the token or a full identity number.
func TestAccessLog_RouteReasonClientAndTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Tracer = tp.Tracer("test")
		d.Propagator = propagation.TraceContext{}
	})
	hd := h.headers(openOrg)
	hd.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	require.Equal(t, 400, h.do(http.MethodGet, accountsURL("2010-01-01", today), hd).Code)
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.NotNil(t, line, h.logs.String())
	require.Equal(t, "/v2/accounts", line["route"])
	require.Equal(t, "window", line["reason"])
	require.Equal(t, "ACC-001", line["code"])
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", line["trace_id"])
	require.NotEmpty(t, line["span_id"])
	require.NotEmpty(t, line["client"])
	require.Equal(t, "0192:974760673", line["consumer"])
	require.NotContains(t, h.logs.String(), openOrg)
	require.NotContains(t, h.logs.String(), strings.TrimPrefix(hd.Get("Authorization"), "Bearer "))
}
