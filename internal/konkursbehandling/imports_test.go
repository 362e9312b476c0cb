package konkursbehandling

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecisionImportsNoHTTPAndNoDatabase keeps the decision a domain package: the HTTP layer
// asks it, the stores answer it through interfaces, and it knows neither.
func TestDecisionImportsNoHTTPAndNoDatabase(t *testing.T) {
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	checked := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, banned := range []string{"net/http", "database/sql", "github.com/jackc/pgx", "internal/httpapi", "internal/postgres"} {
				require.NotContains(t, path, banned, "%s imports %s", e.Name(), path)
			}
		}
		checked++
	}
	require.GreaterOrEqual(t, checked, 4, "the package's files were read")
}
