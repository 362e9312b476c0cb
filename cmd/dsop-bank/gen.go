package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// genCommand writes a synthetic bank data file (deterministic by seed) for benchmarks and load tests.
func genCommand(c *cli) *cobra.Command {
	var g genFlags
	cmd := &cobra.Command{
		Use:   "gen --accounts N --transactions M [--seed S] [--end DATE]",
		Short: "Write a synthetic bank data file for load tests.",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			bd, err := g.generate()
			if err != nil {
				return err
			}
			return json.NewEncoder(c.stdout).Encode(bd)
		},
	}
	g.register(cmd.Flags(), 10, "")
	return cmd
}

// genFlags are gen's flags, which mock-core shares for the bank it serves.
type genFlags struct {
	accounts, transactions int
	seed                   uint64
	end                    string
}

// register adds the flags to fs; mock-core serves gen's bank only when --accounts is given.
func (g *genFlags) register(fs *pflag.FlagSet, accounts int, prefix string) {
	fs.IntVar(&g.accounts, "accounts", accounts, prefix+"number of accounts (owned by the demo debtor 910336819 and others)")
	fs.IntVar(&g.transactions, "transactions", 1000, prefix+"transactions per account")
	fs.Uint64Var(&g.seed, "seed", 1, prefix+"random seed")
	fs.StringVar(&g.end, "end", "", prefix+"last day of the history (YYYY-MM-DD); default today. Same seed and end, same file")
}

func (g *genFlags) generate() (*accounts.BankData, error) {
	now, err := genEnd(g.end)
	if err != nil {
		return nil, &usageError{err}
	}
	return Generate(g.accounts, g.transactions, g.seed, now), nil
}

// genEnd is the last day of a generated history: --end (YYYY-MM-DD), default today.
func genEnd(end string) (time.Time, error) {
	if end == "" {
		return time.Now().UTC().Truncate(24 * time.Hour), nil
	}
	d, err := civil.Parse(end)
	if err != nil {
		return time.Time{}, fmt.Errorf("--end: %w", err)
	}
	return d.In(time.UTC).Add(12 * time.Hour), nil
}

// genDeceased is the generated bank's deceased customer (the demo bank's too).
const genDeceased = "12034510170"

// Generate builds a bank with n accounts of m transactions each, spread over the two years before
// now; account i is owned by the demo debtor 910336819 when i is even, by a person who died a month
// before now (for Oppgjør etter dødsfall) when i is 3 modulo 4, and by a healthy company otherwise.
func Generate(n, m int, seed uint64, now time.Time) *accounts.BankData {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bd := &accounts.BankData{
		Servicer: accounts.Servicer{OrganisationNumber: "900293003", Name: "Benchmark Bank ASA", CountryOfResidence: "NO"},
		Parties: []accounts.Party{{ID: "910336819", Name: "Fjelltopp Bygg AS", CountryOfResidence: "NO"}, {ID: "900308841", Name: "Frisk Kunde AS", CountryOfResidence: "NO"},
			{ID: genDeceased, Name: "Arvid Avdød", CountryOfResidence: "NO", DateOfDeath: civil.Of(now.AddDate(0, -1, 0))}},
	}
	start := now.AddDate(-2, 0, 0)
	span := now.Sub(start)
	for i := range n {
		owner := "910336819"
		switch i % 4 {
		case 1:
			owner = "900308841"
		case 3:
			owner = genDeceased
		}
		a := accounts.Account{
			AccountNumber: fmt.Sprintf("9%010d", i), Type: dsop.BusinessAccount, Currency: "NOK", Status: dsop.Disabled,
			StartDate: civil.Of(start.AddDate(-1, 0, 0)),
			Roles:     []accounts.Role{{PartyID: owner, Role: accounts.RolePrimaryOwner, Permission: dsop.RightToUseAlone, StartDate: civil.Of(start.AddDate(-1, 0, 0))}},
			Balances: accounts.Balances{Current: &accounts.CurrentBalance{
				Booked:    accounts.Money{Amount: "1000.00", CreditDebitIndicator: dsop.CreditOrDebitCredit},
				Available: accounts.Money{Amount: "900.00", CreditDebitIndicator: dsop.CreditOrDebitCredit}, Registered: now.UTC().Truncate(time.Second)}},
		}
		a.Transactions = make([]dsop.Transaction, 0, m)
		for j := range m {
			at := start.Add(time.Duration(float64(span) * float64(j) / float64(m))).UTC().Truncate(time.Second)
			amount := json.Number(fmt.Sprintf("%d.%02d", r.IntN(100000), r.IntN(100)))
			cdi := dsop.CreditOrDebitDebit
			if r.IntN(3) == 0 {
				cdi = dsop.CreditOrDebitCredit
			}
			st := dsop.TransactionStatusBooked
			ref := fmt.Sprintf("%010d", r.IntN(1_000_000_000))
			info := fmt.Sprintf("Faktura %d", r.IntN(100000))
			cur := "NOK"
			a.Transactions = append(a.Transactions, dsop.Transaction{
				TransactionIdentifier: fmt.Sprintf("%d-%08d", i, j), BookingDate: &at, ValueDate: &at, Registered: &at,
				Amount: &amount, CreditDebitIndicator: &cdi, Status: &st, Currency: &cur, AdditionalInfo: &info,
				References: &[]dsop.TransactionReference{{Value: ref, Type: dsop.ArchiveReference}},
			})
		}
		bd.Accounts = append(bd.Accounts, a)
	}
	return bd
}
