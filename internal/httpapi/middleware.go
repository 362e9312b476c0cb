package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// sanitize keeps log fields short and printable; they come from the caller.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// recoverPanics turns a panic into 500 ACC-100 so that a bug never drops the connection without
// an answer, and logs the stack.
func (a *api) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.Logger.ErrorContext(r.Context(), "panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
				if bw, ok := w.(*bufferedWriter); ok {
					bw.reset() // whatever the handler wrote before it panicked never leaves
				}
				a.fail(w, r, errInternal) // a bug, not a passing fault: 500
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// onlyGET refuses every method but GET (and HEAD, which mirrors it) with 405 ACC-012, before
// anything else is looked at.
func (a *api) onlyGET(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			a.fail(w, r, errMethod)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate validates the Maskinporten token (401 ACC-010 / 403 ACC-011).
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			claims validation.Claims
			err    error
		)
		if len(r.Header.Values("Authorization")) > 1 {
			// A gateway that reads another of them than we do would disagree about the caller.
			err = &validation.TokenError{Reason: "duplicate", Message: "send exactly one Authorization header"}
		} else {
			ctx, span := a.Tracer.Start(r.Context(), "token.validate")
			claims, err = a.Tokens.Validate(ctx, r.Header.Get("Authorization"))
			span.End()
		}
		c := callOf(r.Context())
		c.claims, c.authenticated = claims, err == nil
		if te := (*validation.TokenError)(nil); errors.As(err, &te) {
			a.Observer.TokenFailure(r.Context(), te.Reason)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type format int

const (
	formatJSON format = iota + 1
	formatJOSE
)

// negotiate picks the body format from Accept (kontrollinformasjon-api.md §3.2). Production
// always answers JWE, also to Accept: application/json (a real consumer sends that and decrypts
// the JWE): it never downgrades to clear text. In test mode an Accept that asks for
// application/json and not for application/jose gets clear JSON, anything else JWE. An Accept
// that names neither, nor a wildcard, is 406 ACC-013 in both modes.
func (a *api) negotiate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jose, js, wildcard := acceptable(r.Header.Values("Accept"))
		c := callOf(r.Context())
		switch {
		case !jose && !js && !wildcard:
			a.fail(w, r, errNotAcceptable)
			return
		case a.Mode == ModeTest && js && !jose:
			c.format = formatJSON
		default:
			c.format = formatJOSE
		}
		next.ServeHTTP(w, r)
	})
}

// acceptable reads Accept headers; no header at all counts as a wildcard.
func acceptable(values []string) (jose, json, wildcard bool) {
	if len(values) == 0 {
		return false, false, true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil || params["q"] == "0" {
				continue
			}
			switch mt {
			case "application/jose":
				jose = true
			case "application/json":
				json = true
			case "*/*", "application/*":
				wildcard = true
			}
		}
	}
	return jose, json, wildcard
}
