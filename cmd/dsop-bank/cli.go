package main

import (
	"encoding/json"
	"io"
	"os/user"
)

// writeJSONLines writes one JSON document per line: the export format of the tools.
func writeJSONLines[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(w)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// osUser names who runs a tool, for the records it leaves (reveals, acknowledgements).
func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}
