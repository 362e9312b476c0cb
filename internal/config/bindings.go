package config

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// binding is where a setting's value goes: set parses it into its Config field, and its error
// says what the value must be. checkFile marks a path that must exist when given; secret, a file
// that production refuses when others can read it.
type binding struct {
	set       func(v string) error
	checkFile bool
	secret    bool
}

// none is a setting that a rule reads itself (a service's keys, the first sync's start).
var none = binding{}

func fail(format string, args ...any) error { return fmt.Errorf(format, args...) }

func text(p *string) binding {
	return binding{set: func(v string) error { *p = v; return nil }}
}

// trimmed is a URL or path whose trailing slashes mean nothing.
func trimmed(p *string) binding {
	return binding{set: func(v string) error { *p = strings.TrimRight(v, "/"); return nil }}
}

func file(p *string) binding {
	b := text(p)
	b.checkFile = true
	return b
}

func secretFile(p *string) binding {
	b := file(p)
	b.secret = true
	return b
}

// serverSecret is DSOP_SECRET_FILE: in test a missing file is created at start, so only
// production checks it (exists, not readable by others).
func serverSecret(p *string) binding {
	b := text(p)
	b.secret = true
	return b
}

func list(p *[]string) binding {
	return binding{set: func(v string) error { *p = SplitList(v); return nil }}
}

func hostPort(p *string) binding {
	return binding{set: func(v string) error {
		*p = v
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fail("must be host:port: %v", err)
		}
		return nil
	}}
}

// optionalHostPort is a listener that is off when empty.
func optionalHostPort(p *string) binding {
	return binding{set: func(v string) error {
		*p = v
		if v == "" {
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fail("must be host:port (port 0 for a free port): %v", err)
		}
		return nil
	}}
}

func oneOf(p *string, values ...string) binding {
	return binding{set: func(v string) error {
		*p = v
		if !slices.Contains(values, v) {
			return fail("must be %s or %s, got %q", strings.Join(values[:len(values)-1], ", "), values[len(values)-1], v)
		}
		return nil
	}}
}

func toDatePolicy(p *validation.ToDatePolicy) binding {
	return binding{set: func(v string) error {
		*p = validation.ToDatePolicy(v)
		if *p != validation.ToDateNotInFuture && *p != validation.ToDateToday {
			return fail("must be not-future or today")
		}
		return nil
	}}
}

func boolean(p *bool) binding {
	return binding{set: func(v string) (err error) {
		if *p, err = strconv.ParseBool(v); err != nil {
			return fail("must be true or false")
		}
		return nil
	}}
}

// within and atLeast are the ranges of numbers and durations.
func within[T cmp.Ordered](lo, hi T) func(T) bool {
	return func(x T) bool { return x >= lo && x <= hi }
}
func atLeast[T cmp.Ordered](lo T) func(T) bool { return func(x T) bool { return x >= lo } }

// parsed is a setting read by parse and accepted by ok; must is the message when either fails.
func parsed[T any](p *T, parse func(string) (T, error), ok func(T) bool, must string) binding {
	return binding{set: func(v string) error {
		x, err := parse(v)
		if err == nil && ok != nil && !ok(x) {
			err = fail("out of range")
		}
		*p = x
		if err != nil {
			return fail("%s", must)
		}
		return nil
	}}
}

func duration(p *time.Duration, ok func(time.Duration) bool, must string) binding {
	return parsed(p, time.ParseDuration, ok, must)
}

func integer(p *int, ok func(int) bool, must string) binding {
	return parsed(p, strconv.Atoi, ok, must)
}

func number(p *float64, ok func(float64) bool, must string) binding {
	return parsed(p, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, ok, must)
}

// size is a number of bytes (ParseSize); without ok, ParseSize's own message is the answer.
func size(p *uint64, ok func(uint64) bool, must string) binding {
	return binding{set: func(v string) (err error) {
		if *p, err = ParseSize(v); err != nil {
			return err
		}
		if ok != nil && !ok(*p) {
			return fail("%s", must)
		}
		return nil
	}}
}

func location(p **time.Location) binding {
	return binding{set: func(v string) (err error) {
		if *p, err = time.LoadLocation(v); err != nil {
			return fail("unknown time zone: %v", err)
		}
		return nil
	}}
}

// retention is how long audit records are kept: 0 (forever) or at least audit.MinRetention.
func retention(p *time.Duration) binding {
	return binding{set: func(v string) (err error) {
		if *p, err = parseRetention(v); err != nil {
			return err
		}
		if *p != 0 && *p < audit.MinRetention {
			return fail("must be 0 (forever) or at least %s (%d days): the floor keeps every case verifiable for Bits' error handling", audit.MinRetention, int(audit.MinRetention.Hours()/24))
		}
		return nil
	}}
}

func databaseURL(p *string) binding {
	return binding{set: func(v string) error {
		*p = v
		if v == "" {
			return nil
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return fail("must be a postgres:// URL")
		}
		return nil
	}}
}

// httpsURL reports whether v is an absolute https URL, or http outside production.
func httpsURL(v string, prod bool) bool {
	u, err := url.Parse(v)
	return err == nil && u.Host != "" && (u.Scheme == "https" || (!prod && u.Scheme == "http"))
}

// SplitList is a comma-separated setting's values, blanks left out.
func SplitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// parseRetention reads "0", a Go duration ("87600h") or a number of days ("3650d").
func parseRetention(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 3650d or 87600h", s)
	}
	return d, nil
}

// parseSince reads where the first Konkursvarsel sync starts: "" or "all" (whole history), a
// duration back from now, a date, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "" || s == "all":
		return time.Time{}, nil
	case len(s) == 10:
		return time.Parse(time.DateOnly, s)
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a duration (72h), a date, an RFC 3339 time or 'all'", s)
}

// exposedSecret reports whether a secret file can be read by users other than this process's: by
// others, or by a group that is not the process's own. A group of the process's own is what a
// Kubernetes secret volume with fsGroup gives (mode 0440, group = fsGroup = runAsGroup).
func exposedSecret(fi os.FileInfo) bool {
	perm := fi.Mode().Perm()
	if perm&0o007 != 0 {
		return true
	}
	if perm&0o070 == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Gid) != os.Getgid()
}

// ParseSize reads a size in bytes: a number, optionally with KiB, MiB, GiB or TiB (or kB, MB, GB,
// TB, powers of ten).
func ParseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := uint64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 2GiB", s)
	}
	return n * mult, nil
}
