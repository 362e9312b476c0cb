// Package telemetry sets up OpenTelemetry for dsop-bank: traces exported over OTLP when the
// standard OTEL_* variables ask for it (off by default), W3C trace-context propagation, and
// metrics exposed in the Prometheus format on the admin listener. It owns the instruments the
// request path records into; nothing here is global.
package telemetry

import (
	"github.com/dsop-bank/dsop-bank/internal/audit"

	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry is the tracer, the meter and the instruments of one server.
type Telemetry struct {
	Tracer     trace.Tracer
	Meter      metric.Meter
	Propagator propagation.TextMapPropagator
	// Metrics serves /metrics in the Prometheus format.
	Metrics http.Handler

	requests      metric.Int64Counter
	latency       metric.Float64Histogram
	tokenFailures metric.Int64Counter
	auditWrite    metric.Float64Histogram
	auditRecords  metric.Int64Counter
	auditBytes    metric.Int64Counter
	shutdown      []func(context.Context) error
}

// Version is the module version and VCS revision the binary was built from.
func Version() (version, revision string) {
	version, revision = "(devel)", "unknown"
	if stampedVersion != "" {
		version = stampedVersion
	}
	if stampedRevision != "" {
		revision = stampedRevision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" && stampedVersion == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && stampedRevision == "" {
				revision = s.Value
			}
		}
	}
	return version, revision
}

// stampedVersion and stampedRevision are set at build time by `make build` (-ldflags -X, from
// git); they never change after the binary is linked.
var stampedVersion, stampedRevision string

// TracingRequested reports whether the OTEL_* variables ask for trace export.
func TracingRequested(getenv func(string) string) bool {
	if getenv("OTEL_SDK_DISABLED") == "true" || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_TRACES_EXPORTER") == "otlp" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New builds the telemetry. With exportTraces the OTLP/HTTP exporter reads its settings from the
// OTEL_* environment variables; without it spans are not recorded at all.
func New(ctx context.Context, exportTraces bool) (*Telemetry, error) {
	version, revision := Version()
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", serviceName()), attribute.String("service.version", version)))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	t := &Telemetry{Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	if exportTraces {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.shutdown = append(t.shutdown, tp.Shutdown)
		t.Tracer = tp.Tracer("dsop-bank")
	} else {
		t.Tracer = noop.NewTracerProvider().Tracer("dsop-bank")
	}

	reg := promclient.NewRegistry()
	// The Go runtime (goroutines, heap, GC) and the process (CPU, memory, open files).
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("process collector: %w", err)
	}
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	t.shutdown = append(t.shutdown, mp.Shutdown)
	t.Meter = mp.Meter("dsop-bank")
	t.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	if t.requests, err = t.Meter.Int64Counter("dsop_requests", metric.WithDescription("DSOP Control API requests by service, operation, status and ACC code")); err != nil {
		return nil, err
	}
	if t.latency, err = t.Meter.Float64Histogram("dsop_request_duration", metric.WithUnit("s"), metric.WithDescription("Request latency by service, operation and ACC code, including the audit write"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, err
	}
	if t.tokenFailures, err = t.Meter.Int64Counter("dsop_token_failures", metric.WithDescription("Refused access tokens by reason")); err != nil {
		return nil, err
	}
	if t.auditWrite, err = t.Meter.Float64Histogram("dsop_audit_write_duration", metric.WithUnit("s"), metric.WithDescription("Time to write an audit record durably"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)); err != nil {
		return nil, err
	}
	if t.auditRecords, err = t.Meter.Int64Counter("dsop_audit_records", metric.WithDescription("Requests recorded in the audit log by outcome (allowed, refused) and kind (call, unauthenticated); counted=true for refusals counted into the record of their second")); err != nil {
		return nil, err
	}
	if t.auditBytes, err = t.Meter.Int64Counter("dsop_audit_bytes", metric.WithUnit("By"), metric.WithDescription("Bytes of audit records written by the request path")); err != nil {
		return nil, err
	}
	if _, err = t.Meter.Int64ObservableGauge("dsop_build_info", metric.WithDescription("Build of the running binary (always 1)"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, metric.WithAttributes(attribute.String("version", version), attribute.String("revision", revision)))
			return nil
		})); err != nil {
		return nil, err
	}
	return t, nil
}

func serviceName() string {
	if s := os.Getenv("OTEL_SERVICE_NAME"); s != "" {
		return s
	}
	return "dsop-bank"
}

// Request records one answered request.
func (t *Telemetry) Request(ctx context.Context, service, operation, code string, status int, d time.Duration) {
	if code == "" {
		code = "OK" // a delivered answer has no ACC code; an empty label reads as missing data
	}
	if service == "" {
		service = "none" // refused before it could be routed to a service (token, method, path)
	}
	attrs := metric.WithAttributes(attribute.String("service", service), attribute.String("operation", operation), attribute.String("code", code), attribute.Int("status", status))
	t.requests.Add(ctx, 1, attrs)
	t.latency.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("service", service), attribute.String("operation", operation), attribute.String("code", code)))
}

// TokenFailure records a refused token.
func (t *Telemetry) TokenFailure(ctx context.Context, reason string) {
	t.tokenFailures.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// AuditWrite records the time an audit record took.
func (t *Telemetry) AuditWrite(ctx context.Context, d time.Duration) {
	t.auditWrite.Record(ctx, d.Seconds())
}

// Record counts one request's audit record by outcome and kind, and its bytes (0: counted into
// the record of its second).
func (t *Telemetry) Record(ctx context.Context, status int, kind audit.Kind, bytes int) {
	outcome := "refused"
	if status >= 200 && status < 300 {
		outcome = "allowed"
	}
	t.auditRecords.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome), attribute.String("kind", string(kind)), attribute.Bool("counted", bytes == 0)))
	if bytes > 0 {
		t.auditBytes.Add(ctx, int64(bytes))
	}
}

// Gauge registers an observed value, read at each scrape.
func (t *Telemetry) Gauge(name, unit, desc string, read func() (float64, bool)) error {
	_, err := t.Meter.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			if v, ok := read(); ok {
				o.Observe(v)
			}
			return nil
		}))
	return err
}

// Counter registers an observed monotonic count, read at each scrape (exported with _total).
func (t *Telemetry) Counter(name, desc string, read func() int64) error {
	_, err := t.Meter.Int64ObservableCounter(name, metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(read())
			return nil
		}))
	return err
}

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
