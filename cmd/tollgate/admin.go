package main

import "github.com/spf13/cobra"

// addAdminCommands attaches the admin CLI (commands over the admin API).
func addAdminCommands(root *cobra.Command) {}
