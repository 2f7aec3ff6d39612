package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/controlplane"
)

func applyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "make FILE's document (services, routes, plans...) the running config of a gateway",
		Long: "apply sends the document part of FILE to PUT /config; node settings (listen, admin, store,\n" +
			"counters, tls, server) stay in each node's own file and are left out. The gateway makes a new\n" +
			"revision unless the content is unchanged, and every node sharing its store follows.",
		Args: cobra.NoArgs,
	}
	g := withGlobals(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "config file (YAML or JSON)")
	_ = cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		doc, err := readDocument(file, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		c := g.client()
		cur, err := c.do(cmd.Context(), request{method: http.MethodGet, path: "/config"})
		if err != nil {
			return err
		}
		res, err := c.do(cmd.Context(), request{method: http.MethodPut, path: "/config", body: doc,
			contentType: "application/yaml", header: map[string]string{"If-Match": cur.header.Get("ETag")}})
		if err != nil {
			return nameFile(err, file)
		}
		return printApplied(cmd.OutOrStdout(), g, res)
	}
	return cmd
}

// readDocument reads FILE and keeps its document part, with the files it
// names attached (relative to FILE's directory). Node settings are dropped
// with a note, since applying cannot change them.
func readDocument(file string, notes io.Writer) ([]byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, withCode(ExitUser, err)
	}
	node, doc, err := controlplane.SplitDocument(raw)
	if err != nil {
		return nil, withCode(ExitUser, fmt.Errorf("%s: %w", file, err))
	}
	if doc == nil {
		return nil, withCode(ExitUser, fmt.Errorf("%s has no document part (services, routes, plans ...): nothing to apply", file))
	}
	if node != nil && notes != nil {
		fmt.Fprintf(notes, "note: node settings in %s are not applied; they stay in each node's file\n", file)
	}
	// The specs FILE names travel with it: the gateway cannot read this disk.
	if doc, err = controlplane.Attach(doc, filepath.Dir(file), file); err != nil {
		return nil, withCode(ExitUser, err)
	}
	return doc, nil
}

// nameFile makes config error lines in an API error point at file.
func nameFile(err error, file string) error {
	var ae *apiError
	if errors.As(err, &ae) {
		ae.file = file
	}
	return err
}

func printApplied(w io.Writer, g *globals, res *response) error {
	if g.json() {
		return writeRaw(w, res.body)
	}
	var out struct {
		Revision int64 `json:"revision"`
		Changed  bool  `json:"changed"`
	}
	if err := decodeInto(res, &out); err != nil {
		return err
	}
	if out.Changed {
		fmt.Fprintf(w, "applied: revision %d\n", out.Revision)
	} else {
		fmt.Fprintf(w, "unchanged: revision %d already has this content\n", out.Revision)
	}
	return nil
}

func diffCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "show what apply -f FILE would change (exit 0 equal, 1 different, 2 trouble)",
		Args:  cobra.NoArgs,
	}
	g := withGlobals(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "config file (YAML or JSON)")
	_ = cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		changes, err := diffAgainstLive(cmd, g, file)
		if err != nil {
			return recode(ExitTrouble, err) // diff(1): any trouble is 2
		}
		if err := printChanges(cmd.OutOrStdout(), g, changes); err != nil {
			return recode(ExitTrouble, err)
		}
		if len(changes) > 0 {
			return ExitDifferent
		}
		return nil
	}
	return cmd
}

func diffAgainstLive(cmd *cobra.Command, g *globals, file string) ([]Change, error) {
	doc, err := readDocument(file, nil)
	if err != nil {
		return nil, err
	}
	res, err := g.client().do(cmd.Context(), request{method: http.MethodGet, path: "/config",
		header: map[string]string{"Accept": "application/yaml"}})
	if err != nil {
		return nil, err
	}
	return DiffDocuments(res.body, doc)
}

// ANSI colours for diff lines, used only on a terminal.
const (
	green, red, yellow, reset = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[0m"
)

func printChanges(w io.Writer, g *globals, changes []Change) error {
	if g.json() {
		if changes == nil {
			changes = []Change{}
		}
		return json.NewEncoder(w).Encode(map[string]any{"equal": len(changes) == 0, "changes": changes})
	}
	if len(changes) == 0 {
		_, err := fmt.Fprintln(w, "no differences")
		return err
	}
	color := isTerminal(w)
	var b strings.Builder
	for _, c := range changes {
		line := formatChange(c)
		if color {
			line = map[string]string{"+": green, "-": red, "~": yellow}[c.Op] + line + reset
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// isTerminal reports whether w is a character device (and NO_COLOR is unset).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeRaw prints an API answer as it came, ending with a newline.
func writeRaw(w io.Writer, body []byte) error {
	if _, err := w.Write(body); err != nil {
		return err
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}
