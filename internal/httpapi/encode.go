package httpapi

import "encoding/json"

// marshal is the one JSON encoder of response bodies: the bytes it returns are exactly what a
// consumer (after decryption) receives and what the audit record hashes.
func marshal(v any) ([]byte, error) {
	return json.Marshal(v)
}
