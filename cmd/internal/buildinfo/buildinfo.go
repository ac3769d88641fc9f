// Package buildinfo tells a program's version: the one the Makefile stamps in
// with -ldflags, or else what the Go toolchain recorded.
package buildinfo

import "runtime/debug"

// stamped is set by the Makefile: -X github.com/chairside/chairside/cmd/internal/buildinfo.stamped=v0.1.0
var stamped string

// Version gives the program's version, e.g. "v0.1.0" or "devel".
func Version() string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
