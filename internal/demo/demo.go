// Package demo is the embedded demo bank: a bank data file whose customers are the debtors of
// BRREG's published Konkursvarsel test notices, and those notices in the Konkursvarsel list
// format with a chosen kjennelsesdato (the test table has none: the demo uses the date of each
// aapning's registreringstidspunkt). Both files are data, edited by hand and checked by the tests
// of this package: the bank against openapi/bank-data.yaml, the notices against BRREG's published
// test data (testdata/konkursvarsel-testdata.json).
package demo

import (
	"bytes"
	_ "embed"
	"io"
)

//go:embed bank.json
var bankData []byte

//go:embed konkursvarsler.json
var konkursvarsler []byte

// BankData reads the demo bank data file.
func BankData() io.Reader { return bytes.NewReader(bankData) }

// Konkursvarsler reads the demo notices (_embedded.konkursvarsler[]).
func Konkursvarsler() io.Reader { return bytes.NewReader(konkursvarsler) }
