package config

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// envAnnotation marks a flag with the DSOP_* variable that sets it when the flag is not given.
const envAnnotation = "dsop-env"

// BindEnv makes the variable env set flag name of fs when the command line does not give it, and
// names the variable in the flag's help.
func BindEnv(fs *pflag.FlagSet, name, env string) {
	if err := fs.SetAnnotation(name, envAnnotation, []string{env}); err != nil {
		panic(err) // a flag that was never defined: a programming error, found by every test
	}
	f := fs.Lookup(name)
	f.Usage += " [" + env + "]"
}

// EnvOf is the variable bound to a flag, or "".
func EnvOf(f *pflag.Flag) string {
	if v := f.Annotations[envAnnotation]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// ApplyEnv sets every bound flag of fs that the command line did not give from its variable (so a
// flag wins over its variable, whether it runs before or after parsing). A value that does not
// parse is reported by its variable's name.
func ApplyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		env := EnvOf(f)
		if env == "" || f.Changed {
			return
		}
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

// LongFlags rewrites the single-dash long flags that Go's flag package accepted (-page-size 2000)
// into the double-dash form (--page-size 2000), so that command lines written for earlier
// versions keep working. Arguments after "--" are left alone.
func LongFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if len(a) > 2 && a[0] == '-' && a[1] >= 'a' && a[1] <= 'z' && len(name) > 1 {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

// Settings are the server's settings registered as flags of one command.
type Settings struct {
	c      *Config
	all    []setting
	values []*string
	fs     *pflag.FlagSet
}

// Register adds every setting to fs as a flag bound to its variable. hidden keeps them out of the
// command's help: commands other than serve point to `dsop-bank serve --help` instead.
func Register(fs *pflag.FlagSet, hidden bool) *Settings {
	s := &Settings{c: &Config{}, fs: fs}
	s.all = settings(s.c)
	for _, st := range s.all {
		v := new(string)
		fs.StringVar(v, st.flag, st.def, st.help)
		BindEnv(fs, st.flag, st.env)
		if hidden {
			_ = fs.MarkHidden(st.flag)
		}
		s.values = append(s.values, v)
	}
	return s
}

// Load checks the settings as the command line and the variables gave them. extra are settings
// given after "--" (the form of earlier versions, still read).
func (s *Settings) Load(getenv func(string) string, extra []string) (*Config, error) {
	if len(extra) > 0 {
		if err := s.fs.Parse(LongFlags(extra)); err != nil {
			return nil, err
		}
		if s.fs.NArg() > 0 {
			return nil, fmt.Errorf("unexpected arguments: %v", s.fs.Args())
		}
	}
	raw := map[string]string{}
	for i, st := range s.all {
		raw[st.env] = strings.TrimSpace(*s.values[i])
	}
	// Settings that were retired are read only to say what replaced them.
	raw["DSOP_LINK_PREFIX"] = strings.TrimSpace(getenv("DSOP_LINK_PREFIX"))
	return build(s.c, s.all, raw)
}

// Load reads the settings from args (flags) and the variables, as serve does.
func Load(args []string, getenv func(string) string) (*Config, error) {
	fs := pflag.NewFlagSet("dsop-bank", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Register(fs, false)
	if err := ApplyEnv(fs, getenv); err != nil {
		return nil, err
	}
	if err := fs.Parse(LongFlags(args)); err != nil {
		return nil, fmt.Errorf("%w; `dsop-bank serve --help` lists the flags", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v; `dsop-bank serve --help` lists the flags", fs.Args())
	}
	return s.Load(getenv, nil)
}
