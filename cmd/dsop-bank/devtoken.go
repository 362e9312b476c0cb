package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
)

// devTokenCommand mints a token from the development issuer with the server's settings (same
// DSOP_STATE_DIR, DSOP_BASE_URL, DSOP_DEV_ISSUER_ADDR), optionally with a broken claim.
func devTokenCommand(c *cli) *cobra.Command {
	var o devissuer.Options
	cmd := &cobra.Command{
		Use:   "dev-token [flags] [-- server flags]",
		Short: "Mint a token from the development issuer (test mode).",
		Args:  rangeArgs(0, 0),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Scope, "scope", "", "scope claim (default bits:kontoinformasjon)")
	fs.StringVar(&o.Consumer, "consumer", "", "consumer.ID (default 0192:974760673)")
	fs.StringVar(&o.Issuer, "iss", "", "iss claim (default the development issuer)")
	fs.StringVar(&o.Audience, "aud", "", "aud claim (default DSOP_BASE_URL; also --audience)")
	fs.DurationVar(&o.TTL, "ttl", 0, "lifetime (default 120s; negative gives an expired token)")
	fs.DurationVar(&o.NotBefore, "nbf", 0, "nbf relative to now (positive gives a token not yet valid)")
	fs.BoolVar(&o.NoExp, "no-exp", false, "leave out exp")
	fs.StringVar(&o.Alg, "alg", "RS256", "RS256, none, or HS256 (signed with the public key)")
	fs.StringVar(&o.KID, "kid", "", "override the kid header")
	fs.BoolVar(&o.ForeignKey, "foreign-key", false, "sign with a key that is not in the JWKS")
	aliases(cmd, map[string]string{"audience": "aud"})
	runWithSettings(c, cmd, true, func(_ *cobra.Command, cfg *config.Config, _ []string) error {
		return devToken(cfg, o, c.stdout)
	})
	return cmd
}

func devToken(cfg *config.Config, o devissuer.Options, stdout io.Writer) error {
	if !cfg.DevIssuer() {
		return fmt.Errorf("dev-token needs the development issuer: leave DSOP_MASKINPORTEN_ISSUER and DSOP_MASKINPORTEN_JWKS_URL empty, in test mode")
	}
	is, err := devissuer.Open(cfg.StateDir, cfg.MaskinportenIssuer, cfg.BaseURL)
	if err != nil {
		return err
	}
	tok, err := is.Mint(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// checkBankDataCommand validates a bank data file and lists every problem with its location.
func checkBankDataCommand(c *cli) *cobra.Command {
	var delta bool
	cmd := &cobra.Command{
		Use:   "check-bank-data [--delta] FILE",
		Short: "Validate a bank data file and list every problem with its location.",
		Long:  "Validate a bank data file (openapi/bank-data.yaml) or a change set (--delta) and list every problem with its location; exit status 1 on any.",
		Args:  rangeArgs(1, 1),
		RunE:  func(_ *cobra.Command, args []string) error { return checkBankData(args[0], delta, c.stdout) },
	}
	cmd.Flags().BoolVar(&delta, "delta", false, "FILE is a change set (openapi/bank-data-delta.yaml); parties its roles name but it does not give are looked up when it is applied")
	return cmd
}

func checkBankData(file string, delta bool, stdout io.Writer) error {
	o := accounts.CheckOptions{Delta: delta}
	if delta {
		// Without the store, a party the change set does not give may be one the store has.
		o.KnownParties = func(ids []string) (map[string]bool, error) {
			all := map[string]bool{}
			for _, id := range ids {
				all[id] = true
			}
			return all, nil
		}
	}
	res, err := accounts.CheckFileWith(file, o)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(stdout, "%s:%s\n", file, p)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%s: %d problems", file, len(res.Problems))
	}
	kind := "ok"
	if delta {
		kind = fmt.Sprintf("ok, change set %d", res.Sequence)
	}
	fmt.Fprintf(stdout, "%s: %s (%d parties, %d accounts, %d transactions)\n", file, kind, res.Counts.Parties, res.Counts.Accounts, res.Counts.Transactions)
	return nil
}

// decryptCommand opens a JWE answer with the consumer's private key, for the bank's testers:
// dsop-bank decrypt --key FILE [JWE-FILE] (the JWE is read from standard input without a file).
func decryptCommand(c *cli) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "decrypt --key FILE [JWE-FILE]",
		Short: "Decrypt a JWE answer with the consumer's private key.",
		Args:  rangeArgs(0, 1),
		RunE:  func(_ *cobra.Command, args []string) error { return decrypt(keyFile, args, c.stdin, c.stdout) },
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "PEM file with the consumer's RSA private key (also --consumer-key)")
	aliases(cmd, map[string]string{"consumer-key": "key"})
	return cmd
}

func decrypt(keyFile string, args []string, stdin io.Reader, stdout io.Writer) error {
	if keyFile == "" {
		return &usageError{fmt.Errorf("decrypt needs --key FILE, the consumer's private key; usage: dsop-bank decrypt --key FILE [JWE-FILE]")}
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key, err := encryption.ParsePrivateKey(kb)
	if err != nil {
		return fmt.Errorf("%s: %w", keyFile, err)
	}
	in := stdin
	if len(args) > 0 {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	b, err := io.ReadAll(io.LimitReader(in, 64<<20))
	if err != nil {
		return err
	}
	plain, err := encryption.Decrypt(bytes.TrimSpace(b), key)
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(plain))
	return err
}
