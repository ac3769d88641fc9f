// Package deploy holds the tests that prove chairside's deployment on a
// Raspberry Pi: the Debian packages install, upgrade and purge cleanly
// (deb_test.go), the systemd unit's system-call filter allows every call the
// daemon makes (syscall_test.go), the arm builds run under qemu-user
// (qemu_test.go), and a site's broker bridged to a central one survives a
// cut without losing a record (bridge_test.go). It has no code of its own.
package deploy
