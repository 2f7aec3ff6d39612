package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/app"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/quickstart"
)

func serveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve [-c FILE]",
		Short: "run the gateway (the built-in quickstart when no config is found)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC()
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			opts := app.Options{ConfigPath: path, Log: log}
			if path == "" {
				if _, err := os.Stat("tollgate.yaml"); err == nil {
					opts.ConfigPath = "tollgate.yaml"
				}
			}
			if opts.ConfigPath == "" {
				demo, err := quickstart.StartUpstream()
				if err != nil {
					return err
				}
				defer demo.Close()
				opts.Document = quickstart.Config(demo.URL())
				opts.Ready = func(a *app.App) { printQuickstart(a) }
			} else {
				opts.Ready = func(a *app.App) {
					log.Info("tollgate is serving", "proxy", a.ProxyAddr(), "config", opts.ConfigPath)
				}
			}
			app.Version = version
			a, err := app.New(opts)
			if err != nil {
				var list config.ErrorList
				if errors.As(err, &list) {
					return userError{fmt.Errorf("%s", config.FormatErrors(err))}
				}
				return listenError(err)
			}
			return a.Run(context.Background())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML or JSON); default ./tollgate.yaml, else the quickstart")
	return cmd
}

// listenError makes a listener that app.New cannot open (the address is taken,
// a privileged port, an address the host lacks) a user error, exit 1 with
// its one-line cause: the fix is in the config or on the host, not here.
func listenError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "listen" {
		return userError{fmt.Errorf("%w (change listen: in the config, or stop what holds the address)", err)}
	}
	return err
}

// gcPercent is the garbage collector's heap growth target for `serve`
// (Go's default is 100): a collection starts when the heap has grown by a
// quarter of what was live after the last one, not by all of it.
//
// A gateway's live heap is mostly buffers of connections and requests in
// flight, and it allocates little per request (about 160 bytes), so
// collections are rare and cheap: at 1,000 busy connections GC took 0.3%
// of the CPU at 100 and 1.3% at 25 (0.15% and 0.36% at 64 connections),
// while at 100 the heap may grow to twice the live buffers before a
// collection starts, the largest single share of the process's memory
// (README, Performance: memory). GOGC in the environment overrides it, as
// for any Go program.
const gcPercent = 25

func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

func printQuickstart(a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, err := quickstart.DemoKey(ctx, a.Store())
	keyLine := "  the demo consumer's key was printed on the first run; make another with:\n" +
		"        tollgate keys create demo"
	switch {
	case err != nil:
		keyLine = "  could not create the demo key: " + err.Error()
	case key != "":
		keyLine = "  demo consumer key (shown once, keep it): " + key + "\n" +
			"  try:  curl -i -H 'X-API-Key: " + key + "' http://localhost:" + port(a.ProxyAddr()) + "/private/hello"
	}
	fmt.Fprintf(os.Stderr, `
tollgate quickstart (no config file found; state in ./tollgate-data/)
  proxy  http://localhost:%s    admin  http://%s
  try:  curl -i http://localhost:%s/demo/hello
%s

`, port(a.ProxyAddr()), a.AdminAddr(), port(a.ProxyAddr()), keyLine)
}

func port(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

func validateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "check a config file; print every error with file:line and a hint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return userError{errors.New("validate needs -c FILE")}
			}
			_, err := config.Load(path)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), config.FormatErrors(err))
				return cli.ExitCode(1)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file to check")
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print version, commit and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "tollgate %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
