package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at release time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or VCS revision Go embedded is shown.
var version = ""

func runVersion(c *cli, args []string) int {
	fs := newFlags(c, "version", "", "Version prints pipectl's version, the commit it was built from, and the Go version.", "  pipectl version")
	args, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(args) > 0 {
		fmt.Fprintln(c.stderr, "pipectl version: takes no arguments")
		return exitUsage
	}
	v, rev := buildVersion()
	if rev != "" {
		fmt.Fprintf(c.stdout, "pipectl %s (%s, %s)\n", v, rev, runtime.Version())
	} else {
		fmt.Fprintf(c.stdout, "pipectl %s (%s)\n", v, runtime.Version())
	}
	return exitOK
}

// buildVersion is pipectl's version and the commit it was built from ("" when
// unknown).
func buildVersion() (v, rev string) {
	v = version
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return v, rev
}
