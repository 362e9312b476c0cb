package durable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFileAndAppend(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, WriteFile(p, []byte("one")))
	require.NoError(t, WriteFile(p, []byte("two")))
	require.NoError(t, Append(p, []byte("+three")))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "two+three", string(b))
	_, err = os.Stat(p + ".tmp")
	require.True(t, os.IsNotExist(err), "no temporary file left")
}
