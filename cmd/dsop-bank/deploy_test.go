package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dsop-bank/dsop-bank/internal/config"
)

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, path)
		out = append(out, doc)
	}
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// The Dockerfile and the compose file say what the manual promises, and name only settings that exist.
func TestDeploy_FilesAreConsistentWithTheServer(t *testing.T) {
	known := config.Names()
	dsopVar := regexp.MustCompile(`DSOP_[A-Z_]+`)
	for _, f := range []string{"../../Dockerfile", "../../deploy/compose.yaml"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, v := range dsopVar.FindAllString(string(b), -1) {
			require.True(t, slices.Contains(known, v), "%s names %s, which is no setting", f, v)
		}
	}

	docker, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	d := string(docker)
	require.Equal(t, 2, strings.Count(d, "\nFROM ")+strings.Count(d[:5], "FROM "), "multi-stage")
	require.Contains(t, d, "CGO_ENABLED=0", "a static binary")
	require.Contains(t, d, "distroless/static", "a minimal base without a shell")
	// Both bases pinned by digest (issue #27), overridable for a bank's mirror.
	pinned := regexp.MustCompile(`(?m)^ARG (GO_IMAGE|BASE_IMAGE)=\S+@sha256:[0-9a-f]{64}$`)
	require.Len(t, pinned.FindAllString(d, -1), 2, "GO_IMAGE and BASE_IMAGE pinned by digest")
	require.Regexp(t, `(?m)^FROM \$\{GO_IMAGE\} AS build$`, d)
	require.Regexp(t, `(?m)^FROM \$\{BASE_IMAGE\}$`, d)
	for _, label := range []string{"title", "licenses", "version", "revision", "source", "base.name"} {
		require.Contains(t, d, "org.opencontainers.image."+label+"=", "OCI label %s", label)
	}
	require.Regexp(t, `(?m)^USER 65532`, d, "not root")
	require.Contains(t, d, "DSOP_ADDR=0.0.0.0:8080", "listens beyond loopback in a container")

	compose := yamlDocs(t, "../../deploy/compose.yaml")[0]
	for _, svc := range []string{"db", "mock", "migrate", "import", "dsop-1", "dsop-2"} {
		require.NotNil(t, dig(compose, "services", svc), "compose service %s", svc)
	}
	// The Helm chart is checked by deploy/helm/chart_test.go.
}

// The README's configuration table documents every setting.
func TestREADME_DocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../docs/operators.md") // the manual's configuration table
	require.NoError(t, err)
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `--") {
			rows = append(rows, line)
		}
	}
	for _, name := range config.Names() {
		found := false
		for _, row := range rows {
			found = found || strings.Contains(row, "`"+name+"`")
		}
		require.True(t, found, "README configuration row of %s", name)
	}
}

// The README and docs/ are the user's manual: every link in them leads to a file of the
// repository (a clone has nothing else), and every #anchor to a heading of that file.
func TestDocs_EveryLinkStaysInTheRepositoryAndResolves(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	docs = append(docs, "../../README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	slug := func(h string) string {
		h = strings.ToLower(strings.TrimSpace(h))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	anchors := func(path string) map[string]bool {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		out := map[string]bool{}
		inCode := false
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "```") {
				inCode = !inCode
			}
			if !inCode && strings.HasPrefix(line, "#") {
				out[slug(strings.TrimLeft(line, "# "))] = true
			}
		}
		return out
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		require.NoError(t, err)
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			require.NotRegexp(t, `^[a-z]+:`, target, "%s links outside the repository: %s", doc, target)
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			abs, err := filepath.Abs(path)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(abs, root+string(filepath.Separator)), "%s links outside the repository: %s", doc, target)
			_, err = os.Stat(path)
			require.NoError(t, err, "%s links to a missing file: %s", doc, target)
			if anchor != "" && strings.HasSuffix(path, ".md") {
				require.True(t, anchors(path)[anchor], "%s links to a missing heading: %s", doc, target)
			}
		}
	}
}

// The README names every command and every setting (the contracts), and points to their manual.
func TestREADME_NamesEveryCommandAndSetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, name := range config.Names() {
		require.Contains(t, string(readme), "`"+name+"`", "README names %s", name)
	}
	for _, c := range commands() {
		require.Contains(t, string(readme), "`"+c.name+"`", "README names the command %s", c.name)
	}
}
