package main

import (
	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/openapi"
)

// addAdminCommands attaches the admin CLI (commands over the admin API) and
// the OpenAPI importer.
func addAdminCommands(root *cobra.Command) {
	root.AddCommand(cli.Commands()...)
	imp := &cobra.Command{Use: "import", Short: "turn other formats into tollgate config"}
	imp.AddCommand(openapi.NewImportCommand())
	root.AddCommand(imp)
}
