#!/usr/bin/env bash
# Fails when the committed oapi-codegen output differs from what `go generate` makes of openapi/.
set -euo pipefail
cd "$(dirname "$0")/.."
files="internal/dsop/dsop.gen.go internal/httpapi/server.gen.go"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in $files; do
  mkdir -p "$tmp/$(dirname "$f")"
  cp "$f" "$tmp/$f"
done
go generate ./internal/dsop ./internal/httpapi
stale=0
for f in $files; do
  if ! cmp -s "$f" "$tmp/$f"; then
    echo "$f was stale (regenerated now from openapi/): commit the result of 'make generate'" >&2
    stale=1
  fi
done
exit $stale
