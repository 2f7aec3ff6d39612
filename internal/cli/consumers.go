package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// consumer is the admin API's consumer shape (SPEC §6).
type consumer struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Plan      string            `json:"plan"`
	Groups    []string          `json:"groups"`
	Metadata  map[string]string `json:"metadata"`
	Disabled  bool              `json:"disabled"`
	CreatedAt *time.Time        `json:"created_at"`
}

type page[T any] struct {
	Data []T     `json:"data"`
	Next *string `json:"next"`
}

func consumersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "consumers", Short: "list, show, create, change and delete consumers"}
	g := withGlobals(cmd)
	cmd.AddCommand(consumersListCmd(g), consumersGetCmd(g), consumersCreateCmd(g), consumersUpdateCmd(g), consumersDeleteCmd(g))
	return cmd
}

func consumersListCmd(g *globals) *cobra.Command {
	var cursor string
	var limit int
	cmd := &cobra.Command{Use: "list", Short: "list consumers by name", Args: cobra.NoArgs}
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().IntVar(&limit, "limit", 50, "consumers per page")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page[consumer]
		res, err := g.client().getJSON(cmd.Context(), "/consumers?"+q.Encode(), &p)
		if err != nil {
			return err
		}
		if g.json() {
			return writeRaw(cmd.OutOrStdout(), res.body)
		}
		if err := consumerTable(cmd.OutOrStdout(), p.Data); err != nil {
			return err
		}
		nextHint(cmd.OutOrStdout(), p.Next)
		return nil
	}
	return cmd
}

func consumerTable(w io.Writer, list []consumer) error {
	rows := make([][]string, len(list))
	for i, c := range list {
		state := "active"
		if c.Disabled {
			state = "disabled"
		}
		rows[i] = []string{c.ID, c.Name, orDash(c.Plan), orDash(strings.Join(c.Groups, ",")), mapCell(c.Metadata), state, timeCell(c.CreatedAt)}
	}
	return table(w, []string{"ID", "NAME", "PLAN", "GROUPS", "METADATA", "STATE", "CREATED"}, rows)
}

func consumerPath(idOrName string) string { return "/consumers/" + url.PathEscape(idOrName) }

func consumersGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "get ID|NAME", Short: "show one consumer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c consumer
			res, err := g.client().getJSON(cmd.Context(), consumerPath(args[0]), &c)
			if err != nil {
				return err
			}
			return printConsumer(cmd.OutOrStdout(), g, res, c)
		}}
}

func printConsumer(w io.Writer, g *globals, res *response, c consumer) error {
	if g.json() {
		return writeRaw(w, res.body)
	}
	return consumerTable(w, []consumer{c})
}

// consumerFlags are the editable fields, shared by create and update.
type consumerFlags struct {
	name, plan string
	groups     []string
	metadata   []string
	disabled   bool
}

func (f *consumerFlags) add(cmd *cobra.Command, withName bool) {
	fl := cmd.Flags()
	if withName {
		fl.StringVar(&f.name, "name", "", "new name")
	}
	fl.StringVar(&f.plan, "plan", "", "plan name")
	fl.StringSliceVar(&f.groups, "group", nil, "group (repeat or comma-separate)")
	fl.StringArrayVar(&f.metadata, "meta", nil, "metadata KEY=VALUE (repeatable)")
	fl.BoolVar(&f.disabled, "disabled", false, "disable (true) or enable (false) the consumer")
}

func parseMeta(pairs []string) (map[string]string, error) {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, withCode(ExitUser, fmt.Errorf("--meta %q: write KEY=VALUE", p))
		}
		m[k] = v
	}
	return m, nil
}

func consumersCreateCmd(g *globals) *cobra.Command {
	var f consumerFlags
	cmd := &cobra.Command{Use: "create NAME", Short: "create a consumer", Args: cobra.ExactArgs(1)}
	f.add(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		meta, err := parseMeta(f.metadata)
		if err != nil {
			return err
		}
		in := map[string]any{"name": args[0], "plan": f.plan, "groups": f.groups, "metadata": meta, "disabled": f.disabled}
		var c consumer
		res, err := g.client().sendJSON(cmd.Context(), http.MethodPost, "/consumers", in, &c, nil)
		if err != nil {
			return err
		}
		return printConsumer(cmd.OutOrStdout(), g, res, c)
	}
	return cmd
}

func consumersUpdateCmd(g *globals) *cobra.Command {
	var f consumerFlags
	cmd := &cobra.Command{Use: "update ID|NAME", Short: "change a consumer's fields (only the flags given)", Args: cobra.ExactArgs(1)}
	f.add(cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		patch, err := consumerPatch(cmd, &f)
		if err != nil {
			return err
		}
		c := g.client()
		cur, err := c.do(cmd.Context(), request{method: http.MethodGet, path: consumerPath(args[0])})
		if err != nil {
			return err
		}
		var out consumer
		res, err := c.sendJSON(cmd.Context(), http.MethodPatch, consumerPath(args[0]), patch, &out,
			map[string]string{"If-Match": cur.header.Get("ETag")})
		if err != nil {
			return err
		}
		return printConsumer(cmd.OutOrStdout(), g, res, out)
	}
	return cmd
}

// consumerPatch holds only the fields whose flags were given.
func consumerPatch(cmd *cobra.Command, f *consumerFlags) (map[string]any, error) {
	patch := map[string]any{}
	set := func(flag string, v any) {
		if cmd.Flags().Changed(flag) {
			patch[flag] = v
		}
	}
	set("name", f.name)
	set("plan", f.plan)
	set("disabled", f.disabled)
	if cmd.Flags().Changed("group") {
		patch["groups"] = f.groups
	}
	if cmd.Flags().Changed("meta") {
		meta, err := parseMeta(f.metadata)
		if err != nil {
			return nil, err
		}
		patch["metadata"] = meta
	}
	if len(patch) == 0 {
		return nil, withCode(ExitUser, fmt.Errorf("nothing to change: give --name, --plan, --group, --meta or --disabled"))
	}
	return patch, nil
}

func consumersDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "delete ID|NAME", Short: "delete a consumer with its keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.client().do(cmd.Context(), request{method: http.MethodDelete, path: consumerPath(args[0])}); err != nil {
				return err
			}
			return done(cmd.OutOrStdout(), g, map[string]any{"deleted": args[0]}, "deleted consumer "+args[0])
		}}
}

// done reports a command without a body to show: JSON for scripts, a line for humans.
func done(w io.Writer, g *globals, v any, msg string) error {
	if g.json() {
		return json.NewEncoder(w).Encode(v)
	}
	_, err := fmt.Fprintln(w, msg)
	return err
}

// key is the admin API's key record (never the plaintext).
type key struct {
	ID        string     `json:"id"`
	Prefix    string     `json:"prefix"`
	Active    bool       `json:"active"`
	CreatedAt *time.Time `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// newKey is the one answer that carries a plaintext key.
type newKey struct {
	ID        string     `json:"id"`
	Key       string     `json:"key"`
	Prefix    string     `json:"prefix"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "list, create, revoke and rotate a consumer's API keys"}
	g := withGlobals(cmd)
	cmd.AddCommand(keysListCmd(g), keysCreateCmd(g), keysRevokeCmd(g), keysRotateCmd(g))
	return cmd
}

func keysPath(consumer string) string { return consumerPath(consumer) + "/keys" }

func keysListCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "list CONSUMER", Short: "list a consumer's keys (never the plaintext)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p page[key]
			res, err := g.client().getJSON(cmd.Context(), keysPath(args[0]), &p)
			if err != nil {
				return err
			}
			if g.json() {
				return writeRaw(cmd.OutOrStdout(), res.body)
			}
			rows := make([][]string, len(p.Data))
			for i, k := range p.Data {
				state := "active"
				switch {
				case k.RevokedAt != nil:
					state = "revoked"
				case !k.Active:
					state = "expired"
				}
				rows[i] = []string{k.ID, k.Prefix, state, timeCell(k.CreatedAt), timeCell(k.ExpiresAt)}
			}
			return table(cmd.OutOrStdout(), []string{"ID", "PREFIX", "STATE", "CREATED", "EXPIRES"}, rows)
		}}
}

func keysCreateCmd(g *globals) *cobra.Command {
	var expires string
	cmd := &cobra.Command{Use: "create CONSUMER", Short: "create a key; the plaintext is shown once", Args: cobra.ExactArgs(1)}
	cmd.Flags().StringVar(&expires, "expires", "", "expiry: RFC 3339 time or a duration from now (e.g. 720h)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in := map[string]any{}
		if expires != "" {
			at, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			in["expires_at"] = at
		}
		return sendKey(cmd, g, keysPath(args[0]), in)
	}
	return cmd
}

func parseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, withCode(ExitUser, fmt.Errorf("--expires %q: write an RFC 3339 time or a positive duration like 720h", s))
}

// sendKey posts to a key-creating endpoint and prints the plaintext once.
func sendKey(cmd *cobra.Command, g *globals, path string, in any) error {
	var k newKey
	res, err := g.client().sendJSON(cmd.Context(), http.MethodPost, path, in, &k, nil)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.json() {
		return writeRaw(w, res.body)
	}
	if err := table(w, []string{"ID", "PREFIX", "EXPIRES", "KEY"}, [][]string{{k.ID, k.Prefix, timeCell(k.ExpiresAt), k.Key}}); err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.ErrOrStderr(), "store the key now: it is not shown again")
	return err
}

func keysRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "revoke CONSUMER KEY_ID", Short: "revoke a key (refused on every node within a second)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := keysPath(args[0]) + "/" + url.PathEscape(args[1])
			if _, err := g.client().do(cmd.Context(), request{method: http.MethodDelete, path: path}); err != nil {
				return err
			}
			return done(cmd.OutOrStdout(), g, map[string]any{"revoked": args[1]}, "revoked key "+args[1])
		}}
}

func keysRotateCmd(g *globals) *cobra.Command {
	var overlap string
	cmd := &cobra.Command{Use: "rotate CONSUMER KEY_ID", Short: "replace a key; the old one works for --overlap", Args: cobra.ExactArgs(2)}
	cmd.Flags().StringVar(&overlap, "overlap", "", "how long the old key keeps working (e.g. 24h; default: stops at once)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in := map[string]any{}
		if overlap != "" {
			in["overlap"] = overlap
		}
		return sendKey(cmd, g, keysPath(args[0])+"/"+url.PathEscape(args[1])+"/rotate", in)
	}
	return cmd
}
