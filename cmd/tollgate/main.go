// Command tollgate is the gateway binary: serve, validate, version, and the
// admin CLI. Flags and wiring only; behaviour lives in internal/.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/cli"

	_ "github.com/tollgate-dev/tollgate/internal/policy/builtin"
)

// Set by the linker: -ldflags "-X main.version=... -X main.commit=...".
// Left unset, they come from what the go command stamped into the binary
// (buildStamp).
var (
	version = "dev"
	commit  = "none"
)

func init() { version, commit = buildStamp(version, commit, debug.ReadBuildInfo) }

// buildStamp fills a version and commit the linker did not set from the
// build info: the module version (go install ...@v1.2.3) and the VCS
// revision (a go build in a git checkout), "+dirty" when the tree had
// uncommitted changes.
func buildStamp(version, commit string, read func() (*debug.BuildInfo, bool)) (string, string) {
	bi, ok := read()
	if !ok {
		return version, commit
	}
	if v := bi.Main.Version; version == "dev" && v != "" && v != "(devel)" {
		version = v
	}
	if commit != "none" {
		return version, commit
	}
	var rev, dirty string
	for _, kv := range bi.Settings {
		switch {
		case kv.Key == "vcs.revision":
			rev = kv.Value[:min(12, len(kv.Value))]
		case kv.Key == "vcs.modified" && kv.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev != "" {
		commit = rev + dirty
	}
	return version, commit
}

// userError marks failures caused by the user's input (exit 1); anything
// else is an internal error (exit 2).
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }
func (e userError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status:
// 0 ok, 1 user error, 2 internal error (diff sets its own).
func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "tollgate: an API gateway and API-management platform in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), validateCmd(), versionCmd())
	addAdminCommands(root)
	err := root.Execute()
	var code cli.ExitCode
	var ue userError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return cli.Report(err, stderr)
	case errors.As(err, &ue), isFlagError(err):
		fmt.Fprintln(stderr, "tollgate:", err)
		return 1
	default:
		fmt.Fprintln(stderr, "tollgate:", err)
		return 2
	}
}

func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "unknown shorthand", "flag needs an argument", "invalid argument", "accepts ", "requires "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
