package validation

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// ParamError is a request parameter that is missing or malformed: HTTP 400 ACC-001.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Message }

func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// CheckUUID accepts the canonical 8-4-4-4-12 hexadecimal form, upper or lower case, of any
// version: the standard's own example AccountInfoRequestID is a version-1 UUID.
func CheckUUID(param, v string) error {
	if v == "" {
		return paramErr(param, "header %s is required (a UUID such as 14fbc062-aacb-4449-93c1-85c352d387a4)", param)
	}
	if len(v) != 36 {
		return paramErr(param, "header %s must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", param)
	}
	for i := 0; i < 36; i++ {
		c := v[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return paramErr(param, "header %s must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", param)
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return paramErr(param, "header %s must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", param)
			}
		}
	}
	return nil
}

// DecodeMandate percent-decodes a Legal-Mandate header. Agencies send it URL-encoded; comparing
// the decoded text means that an encoder which also escapes the parentheses (%28/%29) still
// matches. PathUnescape is used because QueryUnescape would turn '+' into a space. Which
// service's mandate it is, is for the routing (dsopservice.Registry.Route).
//
// Choice (the standard is silent): the decoded form itself, sent as raw UTF-8, is also accepted,
// because decoding it is the identity and it names the same legal basis; refusing it would
// reject a request over transport cosmetics. The audit log records the decoded text either way.
func DecodeMandate(raw string) (string, error) {
	if raw == "" {
		return "", paramErr("Legal-Mandate", "header Legal-Mandate is required: the URL-encoded legal basis of the DSOP service you call")
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return "", paramErr("Legal-Mandate", "header Legal-Mandate is not a valid percent-encoded string")
	}
	return dec, nil
}

// CheckOnlyPrimaryOwner requires an OnlyPrimaryOwner value (any case) that the service allows
// (allowed: upper case, e.g. TRUE only for Konkursbehandling, konkursbehandling-rules.md §1).
func CheckOnlyPrimaryOwner(v string, allowed []string, service string) error {
	only := strings.Join(allowed, " or ")
	switch {
	case v == "":
		return paramErr("OnlyPrimaryOwner", "query parameter OnlyPrimaryOwner is required and must be %s for %s", only, service)
	case !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false"):
		return paramErr("OnlyPrimaryOwner", "query parameter OnlyPrimaryOwner must be TRUE or FALSE, and only %s is allowed for %s", only, service)
	case slices.Contains(allowed, strings.ToUpper(v)):
		return nil
	case strings.EqualFold(v, "false"):
		return paramErr("OnlyPrimaryOwner", "OnlyPrimaryOwner=false is not allowed: %s may only list accounts the party owns; send OnlyPrimaryOwner=%s", service, only)
	}
	return paramErr("OnlyPrimaryOwner", "OnlyPrimaryOwner=%s is not allowed for %s; send OnlyPrimaryOwner=%s", strings.ToUpper(v), service, only)
}

// ParseDateParam reads fromDate / toDate.
func ParseDateParam(param string, v *string) (civil.Date, error) {
	if v == nil || *v == "" {
		return civil.Date{}, paramErr(param, "query parameter %s is required (YYYY-MM-DD)", param)
	}
	d, err := civil.Parse(*v)
	if err != nil {
		return civil.Date{}, paramErr(param, "query parameter %s: %v", param, err)
	}
	return d, nil
}

// CheckPartyID validates the PartyID header.
func CheckPartyID(v string) (PartyKind, error) {
	if v == "" {
		return 0, paramErr("PartyID", "header PartyID is required: the debtor's organisation number, national identity number or D-number")
	}
	k, err := ParsePartyID(v)
	if err != nil {
		return 0, paramErr("PartyID", "%v", err)
	}
	return k, nil
}
