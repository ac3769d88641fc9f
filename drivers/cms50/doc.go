// Package cms50 reads the Contec CMS50D+, CMS50E and CMS50F pulse oximeters
// over their serial cable (a CP210x bridge, USB 10C4:EA60), and models them
// for the simulator. It speaks both of Contec's incompatible live protocols;
// the firmware decides which one a device uses, and the configuration says so
// with the driver name.
//
// # Features
//
//   - Live9 (driver "cms50"): the 9-byte protocol of the CMS50D+ firmware 4.6+
//     and the CMS50E/F, 115200 8N1. The device is silent until the host sends
//     the start command 7D 81 A1 80 80 80 80 80 80; the driver sends it on
//     every open, a keep-alive 7D 81 AF 80 … every KeepAliveInterval, and the
//     start again when no live packet came since its last command.
//   - Legacy (driver "cms50-legacy"): the 5-byte stream of the CMS50D+ up to
//     firmware 4.5, 19200 8O1, sent from power-up; framing on bit 7 only.
//   - Decoder: streaming, zero allocations per packet, resynchronises after
//     noise, counts garbled frames (Stats documents exactly how), and emits
//     each packet's SpO2 and pulse readings as soon as its last byte arrives
//     (a Live9 packet with a perfusion index: when the next packet starts;
//     Legacy: when the next packet's first byte shows that no byte of it was
//     lost, 1/60 s later, and only within a run of 6 packets back to back,
//     since random bytes match the Legacy pattern by chance; see Trusted).
//   - Encoders (AppendLive9, AppendLegacy, Command) and Device, a model of
//     the oximeter that streams at 60 packets/s to a pty or serial port,
//     answers commands and stops without keep-alives, for vitalsim and tests.
//   - Dev, the driver: owns the port through drivers/serialport (reopens
//     after an unplug, and after SilenceReopen without a framed packet),
//     sends readings and a Status once a second to a drivers.Sink. It has
//     the shape of every driver here (see package drivers): New(port, *Opts)
//     with nil meaning DefaultOpts, Run(ctx, sink), Halt, String.
//
// # From packet to reading
//
// Each live packet gives two vitals.Readings, SpO2 then pulse, with the same
// flags (Packet.Flags): finger out → ProbeOff, searching → Searching, legacy
// probe error → SensorAlarm, legacy signal strength 0 → LowPerfusion. Under
// ProbeOff, Searching or SensorAlarm both values are vitals.NoValue: the
// device's numbers are then stale. A value out of range is NoValue too, never
// a number: SpO2 0 or above 100 (127 is the missing marker), PR 0 or 255.
// The legacy "SpO2 dropping" bit and the beat marker raise no flag.
//
// # Assumptions
//
// No Contec document for Live9 is public; its description rests on other
// people's decoders and captures. Where they disagree or are silent, this
// package chose, and says why next to the code:
//
//   - bits 0 and 1 of the live packet's high-bit byte are flags (finger out,
//     searching), as headrotor (0xE1 "pulse and SpO2 not valid", 0xE2 "no
//     valid data") and celiponcio (bit 0 finger out, bit 1 searching) read
//     them; the values are NoValue under either;
//   - bit 3 is bit 7 of the pulse rate, by the protocol's general high-bit
//     rule (OSCAR, myoxi), so a rate above 127 /min is not cut to 7 bits;
//   - a live packet ends FF FF, as in every capture, or carries the
//     perfusion index ×100 there as Contec's protocol V7.0 describes
//     (timegrid/CMS50Dplus7 decodes it: byte 4 bit 4 "PI valid", bytes 7-8
//     little-endian, FFFF invalid); a PI is taken only with that bit, at
//     most 20.00 %, and when the next packet's type byte follows the packet
//     (live9.go says why), else the packet is garbled. State.PI carries it;
//     no vitals.Param does, so the engine does not use it yet;
//   - the device stops streaming a few seconds after the last keep-alive
//     (the model uses DefaultKeepAliveTimeout, 5 s);
//   - no flow control (OSCAR); the XON/XOFF some scripts enable would eat
//     the packet types 0x11 and 0x13.
//
// The Contec sheet translated on a forum gives 4800 8N1 for the legacy
// stream; 19200 8O1 is what working decoders use, and what Mode gives.
//
// # Sources
//
// Facts were taken from these public sources; no code was copied (their
// licences differ):
//   - atbrask/CMS50Dplus: cms50dplus/cms50dplus.py, unittests.py (legacy
//     format, 19200 8O1), https://atbrask.dk/?m=201503 (60 Hz);
//   - OSCAR (james-coder/OSCAR-code): oscar/SleepLib/serialoximeter.cpp,
//     loader_plugins/cms50f37_loader.cpp (Live9 framing, packet lengths,
//     high-bit byte, commands, 115200 8N1 without flow control);
//   - aebruno/myoxi: device/cms50f.go (commands, high-bit byte);
//   - headrotor/contec_data: stream_data.py (live packet, status byte 0xE0/
//     E1/E2, keep-alive every 100 packets, the capture
//     01 E0 85 B3 96 C1 E1 FF FF = PR 65, SpO2 97);
//   - titinho11/CMS50E-raw-ppg-data: data (about 100 real live packets,
//     PR 60, SpO2 99);
//   - celiponcio/oximeter-CMS50Dplus-v4.6-LIVE-data-display-store-alarm:
//     cms50Dplus_thread.py (status bits, heartbeat marker, FF FF trailer).
//
// The captures are in testdata/, with a README naming each one's origin.
package cms50
