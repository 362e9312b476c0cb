// Package openapi holds the API descriptions dsop-bank is built from and checked against, embedded
// so that the binary can serve and use them: our DSOP Control API v2 file (the source of the
// generated server) and the public reference copy of the standard's Bank_v2.yaml, OAS 2.0.0 (the
// file Digdir's consumer is generated from; provenance in ../shared/reference/README.md).
package openapi

import "embed"

//go:embed dsop-v2.yaml bank-data.yaml bank-data-delta.yaml reference/Bank_v2.yaml
var files embed.FS

// DSOPv2 returns openapi/dsop-v2.yaml.
func DSOPv2() []byte { return read("dsop-v2.yaml") }

// BankData returns openapi/bank-data.yaml, the JSON Schema of the bank data file (it refers to
// dsop-v2.yaml for the data model).
func BankData() []byte { return read("bank-data.yaml") }

// BankDataDelta returns openapi/bank-data-delta.yaml, the JSON Schema of a change set (it refers
// to bank-data.yaml for the elements).
func BankDataDelta() []byte { return read("bank-data-delta.yaml") }

// ReferenceBankV2 returns openapi/reference/Bank_v2.yaml.
func ReferenceBankV2() []byte { return read("reference/Bank_v2.yaml") }

func read(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return b
}
