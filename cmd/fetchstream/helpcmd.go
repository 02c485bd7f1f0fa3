package main

// The commands about the command line itself: help, version, and what
// an unknown command is taken to mean.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire"
)

// helpCommand prints root's usage, or that of the command it names, on
// stdout: what -h prints.
func helpCommand(root *ffcli.Command, stdout io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "help",
		ShortUsage: "fetchstream help [command]",
		ShortHelp:  "print the usage of fetchstream, or of a command with its flags (as -h does)",
		FlagSet:    flag.NewFlagSet("fetchstream help", flag.ContinueOnError),
		Exec: func(_ context.Context, args []string) error {
			switch len(args) {
			case 0:
				fmt.Fprintln(stdout, ffcli.DefaultUsageFunc(root))
				return nil
			case 1:
				sub := subcommandOf(root, args[0])
				if sub == nil {
					return unknownCommand(root, args[0])
				}
				fmt.Fprintln(stdout, ffcli.DefaultUsageFunc(sub))
				return nil
			}
			return fmt.Errorf("help takes one command at most, got %q", args)
		},
	}
}

// versionCommand prints the build's version.
func versionCommand(stdout io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "version",
		ShortUsage: "fetchstream version",
		ShortHelp:  "print the module version this binary was built from, its release and its Go",
		FlagSet:    flag.NewFlagSet("fetchstream version", flag.ContinueOnError),
		Exec: func(_ context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("version takes no arguments, got %q", args)
			}
			fmt.Fprintln(stdout, buildVersion())
			return nil
		},
	}
}

// buildVersion is one line: the main module's version as the build
// recorded it (runtime/debug.ReadBuildInfo: a tag, or a pseudo-version
// from the commit with +dirty for uncommitted changes; (devel) when the
// build knew neither), the release the micro service reports
// (service.Version), and the Go toolchain and platform.
func buildVersion() string {
	version, commit := "(devel)", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && !strings.Contains(version, shortCommit(s.Value)) {
				commit = ", commit " + shortCommit(s.Value)
			}
		}
	}
	return fmt.Sprintf("fetchstream %s, release %s%s, %s %s/%s", version, service.Version, commit,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// shortCommit is a commit hash cut to the 12 digits a pseudo-version
// holds.
func shortCommit(hash string) string { return hash[:min(len(hash), 12)] }

// subcommandOf is root's subcommand called name (in any case, as ffcli
// matches them), or nil.
func subcommandOf(root *ffcli.Command, name string) *ffcli.Command {
	for _, sub := range root.Subcommands {
		if strings.EqualFold(sub.Name, name) {
			return sub
		}
	}
	return nil
}

// unknownCommand is the error for name, which names no command of root:
// it says which one it is likely a slip for, if any.
func unknownCommand(root *ffcli.Command, name string) error {
	if near := nearCommand(root, name); near != "" {
		return fmt.Errorf("%w %q (did you mean %q?)", errUnknownCommand, name, near)
	}
	return fmt.Errorf("%w %q", errUnknownCommand, name)
}

// nearCommand is the command of root that name is most likely a slip
// for: the one at most two edits away (case aside; fewer edits than name
// has letters), when it alone is that near; else "" (see
// settings.Nearest).
func nearCommand(root *ffcli.Command, name string) string {
	names := make([]string, 0, len(root.Subcommands))
	for _, sub := range root.Subcommands {
		names = append(names, sub.Name)
	}
	lower := strings.ToLower(name)
	return settings.Nearest(name, names, func(candidate string) int { return wire.EditDistance(lower, candidate) })
}
