package validation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Scope is the Maskinporten scope of the DSOP Control API.
const Scope = "bits:kontoinformasjon"

// TokenError is a refused access token. Forbidden distinguishes a valid token that lacks the
// right (403 ACC-011) from a missing or invalid one (401 ACC-010). Reason is a short,
// token-free label for logs and metrics.
type TokenError struct {
	Forbidden bool
	Reason    string
	Message   string
}

func (e *TokenError) Error() string { return e.Message }

func unauthorized(reason, format string, args ...any) error {
	return &TokenError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// KeySource gives the issuer's public key for a key id.
type KeySource interface {
	Key(ctx context.Context, kid string) (jwk.Key, error)
}

// TokenValidator checks Maskinporten access tokens locally (kontrollinformasjon-api.md §9.1).
type TokenValidator struct {
	Keys     KeySource
	Issuer   string // exact iss
	Audience string // the bank's registered base URL
	// Audiences, when set, are every aud value accepted (DSOP_AUDIENCES): during a move of the
	// bank's URL, Maskinporten issues tokens for the old and the new one side by side (issue #29).
	Audiences        []string
	AllowedConsumers []string // consumer.ID values of the enabled services ("0192:" + organisation number)
	Skew             time.Duration
	Now              func() time.Time
}

// Claims are what the rest of the server needs from a valid token.
type Claims struct {
	ConsumerID string
	ClientID   string
	JTI        string
	Scopes     []string
}

// Validate checks the Authorization header value and returns the token's claims.
func (v *TokenValidator) Validate(ctx context.Context, authorization string) (Claims, error) {
	if authorization == "" {
		return Claims{}, unauthorized("missing", "missing Authorization header: send a Maskinporten access token as 'Bearer <token>'")
	}
	scheme, raw, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return Claims{}, unauthorized("malformed", "Authorization header must be 'Bearer <Maskinporten access token>'")
	}
	raw = strings.TrimSpace(raw)
	hdr, err := checkCompact(raw)
	if err != nil {
		return Claims{}, err
	}
	// Only RS256, as Maskinporten signs: refuses "none", HS* signed with the public key as a
	// secret, and any other algorithm confusion (the signature is then verified as RS256 only).
	if hdr.Alg != jwa.RS256().String() {
		return Claims{}, unauthorized("alg", "access token algorithm %q is not allowed; only RS256", hdr.Alg)
	}
	kid := hdr.Kid
	if kid == "" {
		return Claims{}, unauthorized("kid", "access token has no kid header")
	}
	key, err := v.Keys.Key(ctx, kid)
	if err != nil {
		var unknown ErrUnknownKey
		if errors.As(err, &unknown) {
			return Claims{}, unauthorized("unknown_kid", "access token is signed with an unknown key (kid %q)", kid)
		}
		// The issuer's key set cannot be reached: our problem, not the caller's.
		return Claims{}, fmt.Errorf("load token signing keys: %w", err)
	}
	now := v.Now
	if now == nil {
		now = time.Now
	}
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKey(jwa.RS256(), key),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.Issuer),
		jwt.WithAcceptableSkew(v.Skew),
		jwt.WithClock(jwt.ClockFunc(now)),
		jwt.WithRequiredClaim("exp"),
	)
	if err != nil {
		return Claims{}, tokenParseError(err)
	}
	if !v.audienceOK(tok) {
		return Claims{}, unauthorized("aud", "access token audience is not this bank's registered base URL")
	}
	c := Claims{ClientID: stringClaim(tok, "client_id")}
	c.JTI, _ = tok.JwtID()
	// Scopes are separated by single spaces (RFC 6749 §3.3): a TAB or any other white space is
	// part of a scope, so "bits:kontoinformasjon\tx" is not our scope (issue #29).
	c.Scopes = strings.Split(stringClaim(tok, "scope"), " ")
	var cons map[string]any
	authority := ""
	if tok.Get("consumer", &cons) == nil {
		if id, ok := cons["ID"].(string); ok {
			c.ConsumerID = id
		}
		authority, _ = cons["authority"].(string)
	}
	if !slices.Contains(c.Scopes, Scope) {
		return c, &TokenError{Forbidden: true, Reason: "scope", Message: fmt.Sprintf("access token lacks scope %s", Scope)}
	}
	if c.ConsumerID == "" {
		return c, &TokenError{Forbidden: true, Reason: "consumer", Message: "access token has no consumer.ID claim"}
	}
	if authority != ConsumerAuthority {
		// The ID is an organisation number only under this authority (Maskinporten's consumer
		// claim; kontrollinformasjon-api.md §9.1).
		return c, &TokenError{Forbidden: true, Reason: "consumer", Message: fmt.Sprintf("access token consumer.authority must be %s", ConsumerAuthority)}
	}
	if !slices.Contains(v.AllowedConsumers, c.ConsumerID) {
		return c, &TokenError{Forbidden: true, Reason: "consumer", Message: fmt.Sprintf("consumer %s is not entitled to Konkursbehandling", c.ConsumerID)}
	}
	return c, nil
}

// ConsumerAuthority is the authority of Maskinporten's consumer claim: ISO 6523 actor ids.
const ConsumerAuthority = "iso6523-actorid-upis"

// audienceOK reports whether one of the token's aud values is an accepted audience.
func (v *TokenValidator) audienceOK(tok jwt.Token) bool {
	accepted := v.Audiences
	if len(accepted) == 0 {
		accepted = []string{v.Audience}
	}
	aud, _ := tok.Audience()
	for _, a := range aud {
		if slices.Contains(accepted, a) {
			return true
		}
	}
	return false
}

func tokenParseError(err error) error {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return unauthorized("expired", "access token has expired")
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return unauthorized("not_yet_valid", "access token is not valid yet (nbf)")
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return unauthorized("iat", "access token is issued in the future (iat)")
	case errors.Is(err, jwt.InvalidIssuerError()):
		return unauthorized("iss", "access token issuer is not the configured Maskinporten issuer")
	case errors.Is(err, jwt.InvalidAudienceError()):
		return unauthorized("aud", "access token audience is not this bank's registered base URL")
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return unauthorized("exp", "access token has no exp claim")
	}
	return unauthorized("signature", "access token signature or claims are invalid")
}

func stringClaim(tok jwt.Token, name string) string {
	var s string
	if tok.Get(name, &s) != nil {
		return ""
	}
	return s
}

// checkCompact applies the rules the JOSE library leaves to us, on the token as sent:
//   - a protected header naming critical extensions ("crit") is refused: we implement none, and
//     RFC 7515 §4.1.11 says a recipient that does not understand one must refuse the JWS;
//   - exp, iat and nbf must be JSON numbers (RFC 7519 §2 NumericDate), not strings a lenient
//     parser would convert.
//
// It returns the header's alg and kid: the header is decoded once, here (issue #15).
func checkCompact(raw string) (joseHeader, error) {
	var none joseHeader
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return none, unauthorized("malformed", "access token is not a signed JWT in compact serialization")
	}
	// Each part in canonical base64url (no padding, no other alphabet, no stray bits): a token has
	// one spelling, so that no second spelling of it passes where the first is refused or
	// recorded (issue #29).
	for i, part := range parts {
		if _, err := strictB64.DecodeString(part); err != nil {
			return none, unauthorized("malformed", "access token %s is not canonical base64url", []string{"header", "claims", "signature"}[i])
		}
	}
	var hdr map[string]json.RawMessage
	b, err := strictB64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(b, &hdr) != nil {
		return none, unauthorized("malformed", "access token header is not base64url-encoded JSON")
	}
	if _, ok := hdr["crit"]; ok {
		return none, unauthorized("crit", "access token header names critical extensions (crit), which this server does not implement")
	}
	var h joseHeader
	if alg, ok := hdr["alg"]; ok && json.Unmarshal(alg, &h.Alg) != nil {
		return none, unauthorized("malformed", "access token header alg is not a string")
	}
	if kid, ok := hdr["kid"]; ok && json.Unmarshal(kid, &h.Kid) != nil {
		return none, unauthorized("malformed", "access token header kid is not a string")
	}
	var claims map[string]json.RawMessage
	b, err = strictB64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &claims) != nil {
		return none, unauthorized("malformed", "access token claims are not base64url-encoded JSON")
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') || json.Unmarshal(v, &n) != nil {
			return none, unauthorized("claim_type", "access token claim %s must be a NumericDate (a JSON number)", name)
		}
	}
	return h, nil
}

var strictB64 = base64.RawURLEncoding.Strict()

// joseHeader is what Validate reads from a token's protected header before it verifies it: the
// header is decoded once, here, and jwt.Parse then verifies the signature as RS256 with the key
// the kid names.
type joseHeader struct{ Alg, Kid string }
