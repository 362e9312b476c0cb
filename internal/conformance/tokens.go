package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/devissuer"
)

// IssuerTokens mints every kind of token from a development issuer whose keys the bank trusts
// (dsop-bank's own test mode), for Consumer (default the issuer's: Konkursbehandling's).
type IssuerTokens struct {
	Issuer   *devissuer.Issuer
	Consumer string
}

// Token implements TokenSource.
func (t IssuerTokens) Token(_ context.Context, kind TokenKind) (string, error) {
	o := devissuer.Options{Consumer: t.Consumer}
	switch kind {
	case Expired:
		o.TTL = -10 * time.Minute
	case WrongScope:
		o.Scope = "bits:kundeforhold"
	case WrongConsumer:
		o.Consumer = "0192:889640782"
	}
	return t.Issuer.Mint(o)
}

// CommandTokens runs a command that prints a valid token (for example one that asks
// Maskinporten's test environment), at most once a minute: Maskinporten tokens live 120 s.
type CommandTokens struct {
	Command string

	mu  sync.Mutex
	tok string
	at  time.Time
}

// Token implements TokenSource.
func (t *CommandTokens) Token(ctx context.Context, kind TokenKind) (string, error) {
	if kind != Valid {
		return "", ErrCannotMint
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != "" && time.Since(t.at) < time.Minute {
		return t.tok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", t.Command)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("token command: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	tok := strings.TrimSpace(out.String())
	if strings.Count(tok, ".") != 2 {
		return "", fmt.Errorf("token command printed no JWT")
	}
	t.tok, t.at = tok, time.Now()
	return tok, nil
}

// FileTokens reads a valid token from a file, again for each request, so that another process
// can keep it fresh.
type FileTokens struct{ Path string }

// Token implements TokenSource.
func (t FileTokens) Token(_ context.Context, kind TokenKind) (string, error) {
	if kind != Valid {
		return "", ErrCannotMint
	}
	b, err := os.ReadFile(t.Path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if strings.Count(tok, ".") != 2 {
		return "", fmt.Errorf("token file %s holds no JWT", t.Path)
	}
	return tok, nil
}
