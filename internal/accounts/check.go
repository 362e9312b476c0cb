package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/dsop-bank/dsop-bank/openapi"
)

// Problem is one mistake in a bank data file, located for the person who must fix it.
type Problem struct {
	Line, Column int
	Path         string // JSON pointer, e.g. /accounts/3/transactions/12/amount
	Message      string
}

func (p Problem) String() string {
	return fmt.Sprintf("%d:%d: %s: %s", p.Line, p.Column, p.Path, p.Message)
}

func bankDataSchema() (*openapi3.Schema, error) {
	return loadSchema(openapi.BankData(), "bank-data.yaml", "BankData")
}

// bankDataDeltaSchema is the root of openapi/bank-data-delta.yaml, a change set.
func bankDataDeltaSchema() (*openapi3.Schema, error) {
	return loadSchema(openapi.BankDataDelta(), "bank-data-delta.yaml", "BankDataDelta")
}

func loadSchema(data []byte, file, name string) (*openapi3.Schema, error) {
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		switch {
		case strings.HasSuffix(u.Path, "dsop-v2.yaml"):
			return openapi.DSOPv2(), nil
		case strings.HasSuffix(u.Path, "bank-data.yaml"):
			return openapi.BankData(), nil
		}
		return nil, fmt.Errorf("unknown schema file %s", u)
	}
	doc, err := l.LoadFromDataWithPath(data, &url.URL{Path: file})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return doc.Components.Schemas[name].Value, nil
}

func flatten(err error) []error {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var out []error
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func schemaMessage(se *openapi3.SchemaError) string {
	if se.Reason != "" {
		return se.Reason
	}
	return se.Error()
}

var (
	indexRe       = regexp.MustCompile(`\[(\d+)\]`)
	unsupportedRe = regexp.MustCompile(`^property "([^"]+)" is unsupported`)
)

// pointerOf turns a location of Validate (accounts[3].roles[0].partyId) into a JSON pointer.
func pointerOf(loc string) string {
	loc = indexRe.ReplaceAllString(loc, ".$1")
	return "/" + strings.ReplaceAll(loc, ".", "/")
}

func walkStrings(v any, path string, fn func(path, s string)) {
	switch t := v.(type) {
	case string:
		fn(path, t)
	case map[string]any:
		for k, c := range t {
			walkStrings(c, path+"/"+k, fn)
		}
	case []any:
		for i, c := range t {
			walkStrings(c, path+"/"+strconv.Itoa(i), fn)
		}
	}
}

// locator finds the offset of each JSON pointer's value within an element.
type locator struct {
	offsets map[string]int64 // JSON pointer → offset of its value
}

func newLocator(data []byte) *locator {
	l := &locator{offsets: map[string]int64{}}
	walkOffsets(bytes.NewReader(data), func(path string, off int64) { l.offsets[path] = off })
	return l
}

// walkOffsets calls record with the JSON pointer and the offset of every value in a document,
// reading it as a stream of tokens.
func walkOffsets(r io.Reader, record func(path string, off int64)) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var walk func(path string) bool
	walk = func(path string) bool {
		record(path, dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				key, err := dec.Token()
				if err != nil || !walk(path+"/"+fmt.Sprint(key)) {
					return false
				}
			}
			_, err = dec.Token()
			return err == nil
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if !walk(path + "/" + strconv.Itoa(i)) {
					return false
				}
			}
			_, err = dec.Token()
			return err == nil
		}
		return true
	}
	walk("")
}
