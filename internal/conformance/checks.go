package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/openapi"
)

// compactJWE is five base64url parts, nothing around them: what jose-jwt's JWT.Decode accepts.
var compactJWE = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// open checks that a 200 is the JWE the real consumer decrypts (kontrollinformasjon-api.md §9.2,
// §7.1) and returns its plaintext. A body that is not a JWE but JSON is returned as it is, with
// the reason, so that the content cases still judge the content.
func (k *kit) open(ex *exchange) ([]byte, error) {
	var problems []string
	if mt, _, _ := mime.ParseMediaType(ex.Header.Get("Content-Type")); mt != "application/jose" {
		problems = append(problems, fmt.Sprintf("Content-Type %q, not application/jose", ex.Header.Get("Content-Type")))
	}
	body := ex.Body
	if trimmed := bytes.TrimSpace(body); len(trimmed) != len(body) && compactJWE.Match(trimmed) {
		// jose-jwt refuses it; the content is still judged by the other cases.
		problems = append(problems, "white space around the JWE compact serialization")
		body = trimmed
	}
	if !compactJWE.Match(body) {
		problems = append(problems, "the body is not a bare JWE compact serialization (five base64url parts, nothing around them)")
		if json.Valid(body) {
			return body, errors.New(strings.Join(append(problems, "it is clear JSON"), "; "))
		}
		return nil, errors.New(strings.Join(problems, "; "))
	}
	h, err := encryption.Inspect(body)
	if err != nil {
		return nil, fmt.Errorf("JWE header: %w", err)
	}
	if h.Alg != "RSA-OAEP-256" {
		problems = append(problems, fmt.Sprintf("alg %q, not RSA-OAEP-256", h.Alg))
	}
	if h.Enc != "A128CBC-HS256" && h.Enc != "A256GCM" {
		problems = append(problems, fmt.Sprintf("enc %q, not A128CBC-HS256 or A256GCM", h.Enc))
	}
	if h.KID == "" {
		problems = append(problems, "no kid in the protected header")
	}
	plain, err := encryption.Decrypt(body, k.o.Key)
	if err != nil {
		return nil, errors.New(strings.Join(append(problems, "cannot be decrypted with the consumer's key: "+err.Error()), "; "))
	}
	if len(problems) > 0 {
		return plain, errors.New(strings.Join(problems, "; "))
	}
	return plain, nil
}

// loadSchemas reads the standard's Bank_v2.yaml, the file the real consumer is generated from.
func loadSchemas(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapi.ReferenceBankV2())
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(ctx)
}

// validate checks a decrypted body against a v2 schema and against what the real consumer's
// parser needs beyond the schema (kontrollinformasjon-api.md §7.1).
func (k *kit) validate(schema string, body []byte) error {
	doc := k.schemas
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	// kin-openapi checks numbers as float64.
	var generic any
	if err := json.Unmarshal(body, &generic); err != nil {
		return err
	}
	s := doc.Components.Schemas[schema]
	if s == nil {
		return fmt.Errorf("no schema %s", schema)
	}
	if err := s.Value.VisitJSON(generic, openapi3.EnableFormatValidation(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("%s schema: %s", schema, firstLines(err.Error(), 3))
	}
	return consumerParses(schema, v)
}

// consumerParses applies what breaks the real consumer's parser although the schema allows it:
// an owner identifier shorter than 6 characters, a null or empty accountReference or links[].rel.
func consumerParses(schema string, v any) error {
	m, _ := v.(map[string]any)
	var problems []string
	checkAccount := func(where string, a map[string]any) {
		if s, _ := a["accountReference"].(string); s == "" {
			problems = append(problems, where+".accountReference is missing, null or empty")
		}
		if po, ok := a["primaryOwner"].(map[string]any); ok {
			if id, ok := po["identifier"].(map[string]any); ok {
				if s, _ := id["value"].(string); len(s) < 6 {
					problems = append(problems, where+".primaryOwner.identifier.value is shorter than 6 characters")
				}
			}
		}
	}
	switch schema {
	case "Accounts":
		list, _ := m["accounts"].([]any)
		for i, a := range list {
			am, _ := a.(map[string]any)
			checkAccount(fmt.Sprintf("accounts[%d]", i), am)
		}
	case "AccountDetails":
		am, _ := m["account"].(map[string]any)
		checkAccount("account", am)
	}
	if links, ok := m["links"].([]any); ok {
		for i, l := range links {
			lm, _ := l.(map[string]any)
			if s, _ := lm["rel"].(string); s == "" {
				problems = append(problems, fmt.Sprintf("links[%d].rel is missing, null or empty", i))
			}
			if s, _ := lm["href"].(string); s == "" || len(s) > 500 {
				problems = append(problems, fmt.Sprintf("links[%d].href is empty or longer than 500 characters", i))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

var accCode = regexp.MustCompile(`^ACC-[0-9]{3}$`)

// errorCode reads the ACC code of an error answer, leniently: the refusal cases judge the status
// and code, the ERR-FORMAT case the form.
func errorCode(ex *exchange) string {
	var body struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(ex.Body, &body)
	return body.Code
}

func errorMessage(ex *exchange) string {
	var body struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(ex.Body, &body)
	return printable(body.Message)
}

// errorBody checks an error answer: plain JSON {"code","message"} with application/json
// (kontrollinformasjon-api.md §8.1).
func errorBody(ex *exchange) error {
	if mt, _, _ := mime.ParseMediaType(ex.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("Content-Type %q, not application/json", ex.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(ex.Body, &body); err != nil {
		return fmt.Errorf("the error body is not JSON: %w", err)
	}
	code, _ := body["code"].(string)
	msg, _ := body["message"].(string)
	var problems []string
	if !accCode.MatchString(code) {
		problems = append(problems, fmt.Sprintf("code %q is not ACC-nnn", code))
	}
	if msg == "" {
		problems = append(problems, "message is empty")
	}
	for key := range body {
		if key != "code" && key != "message" {
			problems = append(problems, fmt.Sprintf("unexpected field %q", key))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("(+%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, " | ")
}
