// Package devissuer is a development stand-in for Maskinporten: it keeps an RSA key in the state
// directory, publishes it as a JWKS, and mints access tokens shaped like Maskinporten's (iss,
// aud, scope, consumer, client_id, jti, iat, exp) so that a bank can try dsop-bank without any
// outside service. It is refused in production by config.
package devissuer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// Issuer signs development tokens.
type Issuer struct {
	URL      string // iss
	Audience string // default aud: the bank's base URL
	key      jwk.Key
	public   jwk.Set
	oidc     oidcState
	// EditIDToken, when set, changes the claims of every ID token before it is signed: tests of
	// the console's ID token checks use it to make the tokens a careless provider would.
	EditIDToken func(claims map[string]any)
}

// Open loads the key from dir (creating it on first use) and returns the issuer.
func Open(dir, issuerURL, audience string) (*Issuer, error) {
	path := filepath.Join(dir, "dev-issuer-key.pem")
	raw, err := loadOrCreate(path)
	if err != nil {
		return nil, err
	}
	return New(raw, issuerURL, audience)
}

// New returns an issuer for an existing RSA key.
func New(raw *rsa.PrivateKey, issuerURL, audience string) (*Issuer, error) {
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("dev issuer key: %w", err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := fmt.Sprintf("dev-%x", tp[:8])
	_ = key.Set(jwk.KeyIDKey, kid)
	_ = key.Set(jwk.AlgorithmKey, jwa.RS256())
	pub, err := key.PublicKey()
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	return &Issuer{URL: issuerURL, Audience: audience, key: key, public: set}, nil
}

func loadOrCreate(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: not a PEM file", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an RSA key", path)
		}
		return rk, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Write to a temporary file and rename, so a concurrent reader never sees half a key.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, os.Rename(tmp, path)
}

// Options shape a token; the zero value is a valid BRREG token. The fields that break a claim
// exist for manual testing of the refusals.
type Options struct {
	Scope      string        // default bits:kontoinformasjon
	Consumer   string        // default Konkursbehandling's consumer (BRREG)
	Issuer     string        // default the issuer URL
	Audience   string        // default the bank's base URL
	TTL        time.Duration // default 120 s, as Maskinporten; negative gives an expired token
	NotBefore  time.Duration // nbf relative to now; positive gives a token not yet valid
	NoExp      bool
	Alg        string // RS256 (default), none or HS256 (signed with the public key as secret)
	KID        string // override the kid header
	ForeignKey bool   // sign with a fresh key that is not in the JWKS
	Now        time.Time
	// Claims are set over the standard ones as given (a nil value removes the claim): a claim of
	// the wrong JSON type, a supplier, a consumer without ID.
	Claims map[string]any
	// Header fields are added to the protected header (e.g. crit, jku, x5u).
	Header map[string]any
	// EmbedJWK puts the signing key's public key in the header (the embedded-key attack).
	EmbedJWK bool
}

// Mint returns a signed access token.
func (is *Issuer) Mint(o Options) (string, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = 120 * time.Second
	}
	// The claim set is a plain map, so that Claims can give a claim any JSON type.
	claims := map[string]any{
		"iss":        def(o.Issuer, is.URL),
		"aud":        def(o.Audience, is.Audience),
		"scope":      def(o.Scope, validation.Scope),
		"consumer":   map[string]any{"authority": "iso6523-actorid-upis", "ID": def(o.Consumer, dsopservice.Konkursbehandling().Consumers[0])},
		"client_id":  uuid.NewString(),
		"client_amr": "virksomhetssertifikat",
		"token_type": "Bearer",
		"jti":        uuid.NewString(),
		"iat":        now.Unix(),
	}
	if !o.NoExp {
		claims["exp"] = now.Add(ttl).Unix()
	}
	if o.NotBefore != 0 {
		claims["nbf"] = now.Add(o.NotBefore).Unix()
	}
	for k, v := range o.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	kid, _ := is.key.KeyID()
	_ = hdr.Set(jws.KeyIDKey, def(o.KID, kid))
	_ = hdr.Set(jws.TypeKey, "JWT")
	for k, v := range o.Header {
		if err := hdr.Set(k, v); err != nil {
			return "", fmt.Errorf("header %s: %w", k, err)
		}
	}
	switch def(o.Alg, "RS256") {
	case "RS256":
		key := is.key
		if o.ForeignKey {
			raw, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return "", err
			}
			if key, err = jwk.Import(raw); err != nil {
				return "", err
			}
		}
		// The key carries no kid of its own here, so the header's (possibly overridden) kid stands:
		// dev-token --kid must reach the wire to exercise the unknown-kid path.
		signKey, err := key.Clone()
		if err != nil {
			return "", err
		}
		_ = signKey.Remove(jwk.KeyIDKey)
		if o.EmbedJWK {
			pub, err := signKey.PublicKey()
			if err != nil {
				return "", err
			}
			if err := hdr.Set(jws.JWKKey, pub); err != nil {
				return "", err
			}
		}
		b, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), signKey, jws.WithProtectedHeaders(hdr)))
		return string(b), err
	case "none":
		b, err := jws.Sign(payload, jws.WithInsecureNoSignature(jws.WithProtectedHeaders(hdr)))
		return string(b), err
	case "HS256":
		// The classic confusion attack: HMAC keyed with the issuer's public key.
		var pub rsa.PublicKey
		p, _ := is.key.PublicKey()
		if err := jwk.Export(p, &pub); err != nil {
			return "", err
		}
		b, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), x509.MarshalPKCS1PublicKey(&pub), jws.WithProtectedHeaders(hdr)))
		return string(b), err
	}
	return "", fmt.Errorf("unknown alg %q (RS256, none or HS256)", o.Alg)
}

// Handler serves the issuer's metadata, its JWKS, and a token endpoint for development; and, for
// the compliance console, an OpenID Connect provider (oidc.go).
// GET or POST /token accepts scope, consumer, aud and ttl (seconds) as query or form values.
func (is *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "jwks.json", "token_endpoint": is.URL + "token"})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, is.public) })
	token := func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		o := Options{Scope: r.Form.Get("scope"), Consumer: r.Form.Get("consumer"), Audience: r.Form.Get("aud")}
		if s := r.Form.Get("ttl"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				http.Error(w, "ttl must be seconds", http.StatusBadRequest)
				return
			}
			o.TTL = time.Duration(n) * time.Second
		}
		tok, err := is.Mint(o)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ttl := o.TTL
		if ttl == 0 {
			ttl = 120 * time.Second
		}
		writeJSON(w, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds()), "scope": validation.Scope})
	}
	mux.HandleFunc("GET /token", token)
	mux.HandleFunc("POST /token", token)
	is.oidcHandlers(mux)
	return mux
}

// JWKS returns the public key set (for tests).
func (is *Issuer) JWKS() jwk.Set { return is.public }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
