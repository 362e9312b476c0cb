package httpapi_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// schemas loads our spec and the public reference copy of Bank_v2.yaml.
func schemas(t *testing.T) map[string]*openapi3.T {
	t.Helper()
	out := map[string]*openapi3.T{}
	for name, path := range map[string]string{
		"openapi/dsop-v2.yaml":   "../../openapi/dsop-v2.yaml",
		"reference/Bank_v2.yaml": "../../openapi/reference/Bank_v2.yaml",
	} {
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		require.NoError(t, err, name)
		require.NoError(t, doc.Validate(context.Background()), name)
		out[name] = doc
	}
	return out
}

// requireValid checks a 200 body against the named component schema of both documents.
func requireValid(t *testing.T, docs map[string]*openapi3.T, schema string, body []byte) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	for name, doc := range docs {
		s := doc.Components.Schemas[schema]
		require.NotNil(t, s, "%s has no schema %s", name, schema)
		require.NoError(t, s.Value.VisitJSON(v, openapi3.EnableFormatValidation(), openapi3.MultiErrors()), "%s: %s", name, schema)
	}
}

// golden compares body with testdata/golden/<name>.json (rewrite with go test -update).
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var pretty any
	require.NoError(t, json.Unmarshal(body, &pretty))
	got, err := json.MarshalIndent(pretty, "", "  ")
	require.NoError(t, err)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/httpapi -update to create it")
	require.JSONEq(t, string(want), string(got))
}
