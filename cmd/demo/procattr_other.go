//go:build !linux

package main

import "os/exec"

// dieWithDemo has no portable equivalent of Linux's Pdeathsig: elsewhere the
// parts are stopped by stopAll only.
func dieWithDemo(*exec.Cmd) {}
