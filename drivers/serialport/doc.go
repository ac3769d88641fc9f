// Package serialport owns a serial port for a sensor driver: it opens the
// port, hands it to the driver's session, and after an unplug or an I/O error
// closes it and opens it again with exponential back-off until the context is
// done.
//
// It exists because go.bug.st/serial (v1.8.0) leaves three traps that every
// driver would otherwise have to step around (the project's library notes,
// go-libraries.md §1b):
//
//   - a read timeout returns (0, nil), which makes io.ReadFull and bufio loops
//     spin; Port.Read turns it into ErrTimeout;
//   - an unplugged USB adapter (or a closed pty master) shows up as
//     PortError{PortClosed} on Read and EIO on Write; IsUnplug recognises these
//     and Run reopens;
//   - a replugged adapter may come back as another /dev/ttyUSBn, so Run
//     resolves a /dev/serial/by-id (or any) symlink again on every open.
//
// Cancelling the context closes the port, which unblocks a pending Read at
// once, so a driver's session can be a plain read loop (see Pump).
//
// On Linux a Port waits for bytes in the Go runtime's poller (epoll), on an
// epoll instance of its own that watches a duplicate of the descriptor the
// library opened, rather than in the library's blocking select(2): a
// goroutine blocked in a system call keeps the runtime's sysmon thread
// polling, which cost the daemon more than all its own work (see poller).
// The library still opens, configures and closes the port, and Read keeps
// its results, the library's own errors included. The poller also gives
// ReadWait and Wake (a session that waits for its next deadline and is woken
// for requests), ReadAfter (a wait that arriving bytes do not end, for
// answers that can wait), and lets PumpPaced sleep over frames that carry
// nothing without their bytes waking the process.
//
// Leave Mode.InitialStatusBits nil when the port may be a pseudo-terminal (the
// simulator): a pty has no modem lines and Open fails with ENOTTY otherwise.
package serialport
