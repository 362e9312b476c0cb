package httpapi

import (
	"bytes"
	"encoding/json"
)

// marshal is the one JSON encoder of response bodies. HTML escaping is off so that the bytes
// are the plain JSON a consumer (and the audit hash) sees.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
