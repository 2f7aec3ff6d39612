package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func plansCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Short: "show the plans of the running config"}
	g := withGlobals(cmd)
	cmd.AddCommand(&cobra.Command{Use: "list", Short: "list plans", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p page[map[string]any]
			res, err := g.client().getJSON(cmd.Context(), "/plans", &p)
			if err != nil {
				return err
			}
			if g.json() {
				return writeRaw(cmd.OutOrStdout(), res.body)
			}
			rows := make([][]string, len(p.Data))
			for i, pl := range p.Data {
				rows[i] = []string{fmt.Sprint(pl["name"]), planCell(pl["rate_limit"], "limit", "window"),
					planCell(pl["quota"], "limit", "period"), priceCell(pl["price"])}
			}
			return table(cmd.OutOrStdout(), []string{"NAME", "RATE LIMIT", "QUOTA", "PRICE"}, rows)
		}})
	return cmd
}

// planCell renders {limit, per} objects as "100/1m".
func planCell(v any, limit, per string) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%v/%v", m[limit], m[per])
}

func priceCell(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%v %v/month + %v per 1000", m["currency"], m["monthly"], m["per_1000_requests"])
}

// revision is the admin API's config revision shape.
type revision struct {
	N         int64     `json:"n"`
	CreatedAt time.Time `json:"created_at"`
	Author    string    `json:"author"`
	Source    string    `json:"source"`
	Hash      string    `json:"hash"`
	Current   bool      `json:"current"`
	Document  *string   `json:"document"`
}

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "config revisions: list, show, roll back"}
	g := withGlobals(cmd)
	cmd.AddCommand(revisionsCmd(g), showRevisionCmd(g), rollbackCmd(g))
	return cmd
}

func revisionsCmd(g *globals) *cobra.Command {
	var cursor string
	var limit int
	cmd := &cobra.Command{Use: "revisions", Short: "list config revisions, newest first", Args: cobra.NoArgs}
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().IntVar(&limit, "limit", 20, "revisions per page")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page[revision]
		res, err := g.client().getJSON(cmd.Context(), "/config/revisions?"+q.Encode(), &p)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if g.json() {
			return writeRaw(w, res.body)
		}
		rows := make([][]string, len(p.Data))
		for i, r := range p.Data {
			mark := ""
			if r.Current {
				mark = "*"
			}
			rows[i] = []string{strconv.FormatInt(r.N, 10) + mark, timeCell(&r.CreatedAt), r.Author, r.Source, shortHash(r.Hash)}
		}
		if err := table(w, []string{"REV", "CREATED", "AUTHOR", "SOURCE", "HASH"}, rows); err != nil {
			return err
		}
		nextHint(w, p.Next)
		return nil
	}
	return cmd
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return orDash(h)
}

func revisionArg(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, withCode(ExitUser, fmt.Errorf("revision %q: want a positive number", s))
	}
	return n, nil
}

func showRevisionCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "show N", Short: "print revision N's document", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := revisionArg(args[0])
			if err != nil {
				return err
			}
			var r revision
			res, err := g.client().getJSON(cmd.Context(), "/config/revisions/"+strconv.FormatInt(n, 10), &r)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeRaw(w, res.body)
			}
			fmt.Fprintf(w, "# revision %d by %s from %s at %s (hash %s)\n", r.N, r.Author, r.Source, timeCell(&r.CreatedAt), shortHash(r.Hash))
			if r.Document != nil {
				_, err = fmt.Fprint(w, *r.Document)
			}
			return err
		}}
}

func rollbackCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "rollback N", Short: "make revision N's document current again, as a new revision", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := revisionArg(args[0])
			if err != nil {
				return err
			}
			var out struct {
				Revision int64 `json:"revision"`
			}
			path := "/config/revisions/" + strconv.FormatInt(n, 10) + "/rollback"
			res, err := g.client().sendJSON(cmd.Context(), http.MethodPost, path, nil, &out, nil)
			if err != nil {
				return err
			}
			if g.json() {
				return writeRaw(cmd.OutOrStdout(), res.body)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "rolled back to revision %d: now revision %d\n", n, out.Revision)
			return err
		}}
}
