# dsop-bank — the two commands a new machine needs are `make run` and `make test`.
SHELL       := /bin/bash
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 30s

.PHONY: help run build test generate check-generated lint vulncheck sbom bench bench-audit bench-scale load fuzz clean

## help: list the make targets and what each does
help:
	@awk '/^## [a-z-]+: / { sub(/^## /, ""); i = index($$0, ": "); printf "  %-14s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }' $(MAKEFILE_LIST)

## run: start the server on the embedded default (demo bank, development token issuer, test mode)
run:
	DSOP_CONSOLE_ADDR="$${DSOP_CONSOLE_ADDR:-127.0.0.1:0}" $(GO) run ./cmd/dsop-bank serve

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

## build: build bin/dsop-bank, stamped with VERSION (git describe) for `dsop-bank version`
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/dsop-bank/dsop-bank/internal/telemetry.stampedVersion=$(VERSION) -X github.com/dsop-bank/dsop-bank/internal/telemetry.stampedRevision=$(REVISION)" -o bin/dsop-bank ./cmd/dsop-bank

## test: generated code up to date, gofmt, go vet, staticcheck, govulncheck, then every test (race detector on)
test: check-generated lint vulncheck
	@if [ -z "$$DSOP_TEST_DATABASE_URL" ]; then echo "NOTE: DSOP_TEST_DATABASE_URL is not set: the PostgreSQL tests are skipped"; fi
	$(GO) test -race -count=1 ./...

## generate: regenerate the oapi-codegen output from openapi/
generate:
	$(GO) generate ./...

check-generated:
	./scripts/check-generated.sh

lint:
	@unformatted=$$(gofmt -l cmd internal openapi deploy tools.go); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## vulncheck: govulncheck over the module; skipped, visibly, when its database cannot be reached
vulncheck:
	./scripts/govulncheck.sh

## sbom: write the software bill of materials (CycloneDX JSON, with licences) to bin/sbom.cdx.json
sbom:
	@mkdir -p bin
	$(GO) run github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0 mod -licenses -json -output bin/sbom.cdx.json .

## bench: the full request path against the floor (ratio line; then against the honest floor of
## issue #31 — the floor plus one durable audit commit, paced at 5 requests/s in interleaved
## pairs) and paging through 1 000 000 transactions (pages/s, peak heap), then the Go benchmarks.
## Needs PostgreSQL; goals are reported, not asserted.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
bench:
	set -o pipefail; DSOP_TEST_DATABASE_URL="$${DSOP_TEST_DATABASE_URL:-$(BENCH_DATABASE_URL)}" DSOP_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestBenchReport$$' -v ./internal/bench | grep -v -e '^=== ' -e '^--- '
	DSOP_TEST_DATABASE_URL="$${DSOP_TEST_DATABASE_URL:-$(BENCH_DATABASE_URL)}" $(GO) test -count=1 -run '^$$' -bench . -benchmem ./...

## load: the load benchmark of issue #15. Starts dsop-bank as its own process on PostgreSQL with
## 30 accounts x 3 000 generated transactions and sends BRREG's mixed profile (JWE) open-loop at
## DSOP_LOAD_RATES (default 50,150,300) req/s for DSOP_LOAD_SECONDS (default 20) each; prints
## p50/p99/max, errors and the server's CPU per request. Reported, never asserted.
load:
	set -o pipefail; DSOP_TEST_DATABASE_URL="$${DSOP_TEST_DATABASE_URL:-$(BENCH_DATABASE_URL)}" DSOP_LOAD=1 $(GO) test -count=1 -timeout 30m -run '^TestLoadReport$$' -v ./internal/bench | grep -v -e '^=== ' -e '^--- '

## bench-scale: bank data at scale (issues #28 and #31). First the import (DSOP_BENCH_IMPORT_SIZES,
## default 1000000,10000000 transactions): dsop-bank import's rate, peak RSS and the database's
## size at each, serving p50/p99 idle and during an import, and a 10 000-transaction change set.
## Then grows one PostgreSQL bank to each size of
## DSOP_BENCH_SCALE_SIZES (default 1000000,10000000 transactions; ~960 B each on disk, so
## 100000000 needs ~96 GB) and prints 2a, details, first and deep page p50/p99, RSS and database
## size at each; at the largest, plugin-banking's run of a 200-account debtor, the paging of a
## 1 000 000-transaction account, the hot queries' plans and the storage per transaction and
## audit record. DSOP_BENCH_SCALE_WITHOUT_ROLES_INDEX=1 measures the "before" of migration 0008;
## DSOP_BENCH_CPUPROFILE=FILE writes a CPU profile. Takes 5-30 minutes. Reported, never asserted.
bench-scale:
	set -o pipefail; DSOP_TEST_DATABASE_URL="$${DSOP_TEST_DATABASE_URL:-$(BENCH_DATABASE_URL)}" DSOP_BENCH_SCALE=1 DSOP_BENCH_IMPORT=1 $(GO) test -count=1 -timeout 4h -run '^(TestBenchImportReport|TestBenchScaleReport)$$' -v ./internal/bench | grep -v -e '^=== ' -e '^--- '

## bench-audit: the audit trail at scale (issue #25). Builds audit logs of 1 000 000 records in
## the file store and 1 000 000 and 10 000 000 in PostgreSQL (DSOP_BENCH_AUDIT_SIZES, e.g.
## file:1000000,postgres:10000000), then prints console pages, CLI commands and an anonymous
## flood, each as time and peak RSS. Needs PostgreSQL and ~20 GB of disk; takes 20-40 minutes.
## Reported, never asserted.
bench-audit:
	set -o pipefail; DSOP_TEST_DATABASE_URL="$${DSOP_TEST_DATABASE_URL:-$(BENCH_DATABASE_URL)}" DSOP_BENCH_AUDIT=1 $(GO) test -count=1 -timeout 3h -run '^TestBenchAuditReport$$' -v ./internal/bench | grep -v -e '^=== ' -e '^--- '

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePartyID$$' -fuzztime $(FUZZTIME) ./internal/validation
	$(GO) test -run '^$$' -fuzz '^FuzzRulesCheck$$' -fuzztime $(FUZZTIME) ./internal/validation
	$(GO) test -run '^$$' -fuzz '^FuzzParseList$$' -fuzztime $(FUZZTIME) ./internal/konkursvarsel
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzDeliver$$' -fuzztime $(FUZZTIME) ./internal/filter
	$(GO) test -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME) ./internal/accounts
	$(GO) test -run '^$$' -fuzz '^FuzzClient_CoreAnswer$$' -fuzztime $(FUZZTIME) ./internal/bankcore

clean:
	rm -rf bin .dsop-state
