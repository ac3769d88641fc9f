//go:build !linux

package main

import "io"

// noEcho does nothing off Linux: the password is echoed (pipe it in).
func noEcho(io.Reader) func() { return func() {} }
