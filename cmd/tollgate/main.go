// Command tollgate is the gateway binary: serve, validate, version, and the
// admin CLI. Flags and wiring only; behaviour lives in internal/.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	_ "github.com/tollgate-dev/tollgate/internal/policy/builtin"
)

// Set by the linker: -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "none"
)

// userError marks failures caused by the user's input (exit 1); anything
// else is an internal error (exit 2).
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }
func (e userError) Unwrap() error { return e.err }

// exitCode lets a command choose its exit status (diff follows diff(1)).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func main() {
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "tollgate: an API gateway and API-management platform in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), validateCmd(), versionCmd())
	addAdminCommands(root)
	err := root.Execute()
	var code exitCode
	var ue userError
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		if isFlagError(err) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "unknown shorthand", "flag needs an argument", "invalid argument", "accepts ", "requires "} {
		if len(msg) >= len(p) && contains(msg, p) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
