// Package cli is tollgate's admin command line: apply, diff, consumers,
// keys, plans and config, each a thin client of the admin API (SPEC §1, §6).
// Humans get tables; scripts get the API's JSON with -o json.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Defaults and environment names for reaching the admin API.
const (
	DefaultAdmin = "http://127.0.0.1:9080"
	EnvAdmin     = "TOLLGATE_ADMIN"
	EnvToken     = "TOLLGATE_ADMIN_TOKEN"
)

// ExitCode is the process exit status a command asks for. As an error on
// its own it carries no message (diff found differences and printed them);
// wrapped with a message (see Report) it also says what went wrong.
type ExitCode int

// Exit statuses (SPEC §1; diff follows diff(1)).
const (
	ExitOK        ExitCode = 0
	ExitUser      ExitCode = 1 // bad input, refused request; for diff: differences found
	ExitTrouble   ExitCode = 2 // admin unreachable, server error
	ExitDifferent ExitCode = 1
)

func (c ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// codedError is a message with the exit status it should end the process with.
type codedError struct {
	code ExitCode
	err  error
}

func (e *codedError) Error() string   { return e.err.Error() }
func (e *codedError) Unwrap() []error { return []error{e.err, e.code} }

func withCode(code ExitCode, err error) error {
	if err == nil {
		return nil
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	return &codedError{code: code, err: err}
}

// recode gives err the exit status code, replacing any it had.
func recode(code ExitCode, err error) error {
	var ce *codedError
	if errors.As(err, &ce) {
		err = ce.err
	}
	return &codedError{code: code, err: err}
}

// Report prints err (unless it is a bare ExitCode, whose command already
// said everything) and returns the exit status for os.Exit: 0 for nil, the
// ExitCode found in err's chain, else 1 (a usage or input error).
func Report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var code ExitCode
	if errors.As(err, &code) {
		if _, bare := err.(ExitCode); !bare {
			fmt.Fprintln(stderr, "tollgate:", err)
		}
		return int(code)
	}
	fmt.Fprintln(stderr, "tollgate:", err)
	return int(ExitUser)
}

// Commands returns the admin CLI's top-level commands for the root command.
func Commands() []*cobra.Command {
	return []*cobra.Command{applyCmd(), diffCmd(), consumersCmd(), keysCmd(), plansCmd(), configCmd()}
}

// globals are the flags every admin command takes.
type globals struct {
	admin  string
	token  string
	output string
}

// withGlobals adds --admin, --token and -o to cmd (inherited by its
// subcommands) and checks -o before any command runs.
func withGlobals(cmd *cobra.Command) *globals {
	g := &globals{}
	f := cmd.PersistentFlags()
	f.StringVar(&g.admin, "admin", "", "admin API base URL (default $"+EnvAdmin+" or "+DefaultAdmin+")")
	f.StringVar(&g.token, "token", "", "admin token (default $"+EnvToken+")")
	f.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.output != "table" && g.output != "json" {
			return withCode(ExitUser, fmt.Errorf("unknown output format %q: use -o table or -o json", g.output))
		}
		return nil
	}
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	return g
}

func (g *globals) json() bool { return g.output == "json" }

func (g *globals) client() *client {
	base := firstNonEmpty(g.admin, os.Getenv(EnvAdmin), DefaultAdmin)
	if !strings.Contains(base, "://") {
		base = "http://" + base // "127.0.0.1:9080" is what people type
	}
	return newClient(strings.TrimRight(base, "/"), firstNonEmpty(g.token, os.Getenv(EnvToken)))
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
