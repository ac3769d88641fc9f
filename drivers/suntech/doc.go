// Package suntech drives a SunTech Advantage (or Advantage 2.0 / A+) OEM NIBP
// module on a serial port, and models one for the simulator and the tests.
//
// The package holds both directions of the protocol: the command encoder and
// response parser the daemon uses, and the module model (Module) vitalsim
// uses, so round-trip tests prove them against each other and the public
// vectors prove them against the device.
//
// # Protocol
//
// The official SunTech interface manual was not found. What follows is
// taken from ak-git/DesktopFX (NIBPRequest.java, NIBPProtocolByte.java and the test
// NIBPBytesInterceptorTest.java) and from nPM's SuntechProvider.cpp (facts
// only: its header says proprietary).
//
// The line is 9600 baud, 8N1. The host sends ':' (0x3A), the command bytes
// and CHK; the module answers '>' (0x3E), LEN, data and CHK, where LEN counts
// the whole frame (at most 0x43 = 67). CHK is the two's complement of the
// sum, so every frame sums to zero modulo 256. Host frames carry no LEN: the
// module knows a command's length from its first byte.
//
// Responses are told apart by LEN: 4 is an acknowledge ('O' received, 'K'
// done, 'A' aborted, 'B' busy, 'E' error, 'N' bad frame, 'D' unrecognised,
// 'S' sleep, 'T' timeout); 5 the cuff pressure (int16 LE mmHg, -1 for none);
// 24 the BP result (SYS, DIA, beats, status, eight test codes, HR, MAP, the
// error code); 67 the version string ("LX…" Advantage, "SB…" A+).
//
// A measurement, as nPM runs it: send start, expect 'O', poll the cuff
// pressure every 200 ms, 'K' means the cycle is over, send get-BP-data and
// read the result; commands go at least 100 ms apart. A non-zero error code
// is a failed measurement (ErrorCode names the documented ones and keeps the
// number of any other, as firmware versions differ).
//
// Left out on purpose: calibrate transducer (0x04), sleep (0x81) and venous
// stasis (0x86), whose frames no source verifies; venous stasis holds the
// cuff inflated, which this monitor must never do by accident. The answer to
// the status commands is undocumented, so the driver does not use them.
//
// # Driver
//
// Dev has the shape of every driver here (see package drivers): New(port,
// *Opts) with nil meaning DefaultOpts, Run(ctx, sink), Halt, String. It owns
// the port through drivers/serialport: it reopens after an unplug and
// sends an abort first on every open, so a cuff a crash or a lost link left
// inflated deflates. Start carries out one measurement for the engine's
// request id and reports exactly one vitals.Result for it: the pressures, or
// a Failure naming the module's error code ("0x57 inflate timeout, leak or
// loose cuff"), a timeout (the cycle outlasted Opts.CycleLimit, 180 s by
// default, or the module stopped answering), "unplugged", "aborted" (Abort)
// or "stopped" (shutdown). On every failure the driver sends the abort when
// the port allows. When idle it asks for the version string every few seconds
// so that the frame counts it sends in Sink.Status about once a second show a
// live module; the engine, not the driver, decides that a module is silent.
// During a measurement it reads the answers to its pressure polls with the
// next poll (serialport.Port.ReadAfter), one wake-up of the process a poll;
// the 'K' that ends the cycle is then seen at most a poll late, and the
// result is read as it arrives.
//
// Times: polls, command gaps and answer timeouts are real time; the cycle
// limit is measured on Opts.Clock so that tests can skip it.
package suntech
