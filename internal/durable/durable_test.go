package durable

import (
	"encoding/json"
	"errors"
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

func TestReadLines_TornLastRecordIsCutDamageElsewhereStops(t *testing.T) {
	decode := func(line []byte) error {
		var v map[string]any
		return json.Unmarshal(line, &v)
	}
	for _, tc := range []struct {
		name    string
		content string
		lines   int
		torn    int64 // offset of the cut, -1 for none
		corrupt int   // line of the damage, 0 for none
	}{
		{"clean", "{\"a\":1}\n{\"a\":2}\n", 2, -1, 0},
		{"empty", "", 0, -1, 0},
		{"torn last record", "{\"a\":1}\n{\"a\":2}\n{\"a\":", 2, 16, 0},
		{"unreadable last line with its newline", "{\"a\":1}\n{\"a\n", 1, 8, 0},
		{"damaged middle line", "{\"a\":1}\nxx\n{\"a\":3}\n", 0, -1, 2},
		{"damaged first line", "{\"a\n{\"a\":2}\n", 0, -1, 1},
		{"blank line in the middle", "{\"a\":1}\n\n{\"a\":3}\n", 0, -1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			n := 0
			torn, err := ReadLines(path, true, func(line []byte) error {
				if err := decode(line); err != nil {
					return err
				}
				n++
				return nil
			})
			if tc.corrupt > 0 {
				var ce *CorruptError
				require.True(t, errors.As(err, &ce), "%v", err)
				require.Equal(t, tc.corrupt, ce.Line)
				require.Contains(t, err.Error(), "state.jsonl: line")
				b, _ := os.ReadFile(path)
				require.Equal(t, tc.content, string(b), "a damaged file is never cut")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.lines, n)
			if tc.torn < 0 {
				require.Nil(t, torn)
				return
			}
			require.NotNil(t, torn)
			require.Equal(t, tc.torn, torn.Offset)
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, tc.torn, st.Size(), "cut at the torn record")
		})
	}
	torn, err := ReadLines(filepath.Join(t.TempDir(), "missing.jsonl"), true, func([]byte) error { return nil })
	require.NoError(t, err)
	require.Nil(t, torn)
}
