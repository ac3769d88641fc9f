// Package childproc ties a child process's life to its parent's, so that a
// demo or a test that dies (killed, timed out, its output closed) leaves no
// daemon behind holding a serial port, a pty or a broker port.
package childproc
