package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/analytics"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/openapi"
)

// addAdminCommands attaches the admin CLI (commands over the admin API) and
// the OpenAPI importer.
func addAdminCommands(root *cobra.Command) {
	root.AddCommand(cli.Commands()...)
	root.AddCommand(usageCmd())
	imp := &cobra.Command{Use: "import", Short: "turn other formats into tollgate config"}
	imp.AddCommand(openapi.NewImportCommand())
	root.AddCommand(imp)
}

// usageCmd is `tollgate usage`, with the admin address and token flags every
// admin command takes ($TOLLGATE_ADMIN, $TOLLGATE_ADMIN_TOKEN).
func usageCmd() *cobra.Command {
	var admin, token string
	cmd := analytics.NewUsageCommand(
		func() string { return firstSet(admin, os.Getenv("TOLLGATE_ADMIN"), "http://127.0.0.1:9080") },
		func() string { return firstSet(token, os.Getenv("TOLLGATE_ADMIN_TOKEN")) },
	)
	cmd.Flags().StringVar(&admin, "admin", "", "admin API URL (default $TOLLGATE_ADMIN or http://127.0.0.1:9080)")
	cmd.Flags().StringVar(&token, "token", "", "admin token (default $TOLLGATE_ADMIN_TOKEN)")
	return cmd
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
