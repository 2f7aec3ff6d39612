package openapi

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// NewImportCommand is `tollgate import openapi SPEC --upstream URL [--service NAME]`:
// it prints a config fragment (services and routes) to stdout.
func NewImportCommand() *cobra.Command {
	var upstream, service string
	cmd := &cobra.Command{
		Use:   "openapi SPEC --upstream URL",
		Short: "Print services and routes (YAML) for every operation of an OpenAPI 3 document",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			out, err := ImportSpec(doc, args[0], upstream, service)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&upstream, "upstream", "", "URL of the service that implements the API (required)")
	cmd.Flags().StringVar(&service, "service", "", "service name (default: from info.title)")
	_ = cmd.MarkFlagRequired("upstream")
	return cmd
}
