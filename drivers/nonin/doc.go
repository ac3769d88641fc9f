// Package nonin reads Nonin pulse oximeters (OEM III module, Xpod, 9560,
// WristOx2) over a serial port in data formats 2, 7 and 8, and models such a
// device for the simulator.
//
// # Features
//
//   - Decoder: a streaming decoder for DF2, DF7 and DF8 that emits the SpO2
//     and pulse of a DF2/DF7 packet once the next SYNC frame shows it whole
//     (25 frames: a frame lost or repeated on the way would shift every value
//     after it) and those of a DF8 frame as it arrives, resynchronises after
//     noise, counts good and garbled frames, and does not allocate.
//   - Encoder and Device: the exact frames of a State, and a device that
//     writes them at the real rate (75 frames/s, or 1/s in DF8), can change
//     state while running and inject garbage for fault tests.
//   - Dev: the driver. It owns the port through serialport (9600 8N1,
//     reopened after an unplug), feeds the decoder and sends readings and a
//     Status once a second to a drivers.Sink. It has the shape of every
//     driver here (see package drivers): New(port, *Opts) with nil meaning
//     DefaultOpts, Run(ctx, sink), Halt, String.
//
// # Protocol
//
// DF2: 5-byte frames `01 STATUS PLETH FLOAT CHK`, CHK = sum of the first four
// bytes mod 256, 75 frames/s, 25 frames per packet; STATUS bit 7 is always 1
// and bit 0 (SYNC) marks frame 0 of a packet; the FLOAT byte's meaning
// depends on the frame's index (HR MSB/LSB in frames 0-1, SpO2 in 2, firmware
// revision 3, timer 5-6, STAT2 7, display and 8-beat variants 8-22). DF7: the
// same without the 0x01 lead and with a 16-bit pleth (`STATUS PLETH_MSB
// PLETH_LSB FLOAT CHK`). DF8: `STATUS1 HR_LSB SPO2 STATUS2` once a second,
// no checksum, HR bits 8..7 in STATUS1 bits 1..0. SpO2 127 and HR 511 mean
// "missing". See Decoder for the exact synchronisation, counting and flag
// rules, and the mapping of status bits to vitals flags.
//
// # Datasheet
//
// Nonin's OEM specification (the "WristOx2 Model 3150 OEM Specification"
// defines formats 1, 2, 7, 8 and 13) is not publicly readable; this package
// follows the facts gathered in the project's protocol notes (sensors.md §1)
// from:
//
//   - pez-globo/pufferfish-software (Apache-2.0):
//     firmware/ventilator-controller-stm32/Core/{Inc,Src}/Pufferfish/Driver/Serial/Nonin/
//     Types.h, FrameReceiver.cpp, PacketReceiver.cpp; unit-test frames in
//     Core/Test/Pufferfish/Driver/Serial/Nonin/TestFrameReceiver.cpp
//   - mattjlewis/NoninPulseOx: src/main/java/com/diozero/pulseox/nonin/io/
//     DataFormat2FrameSerialiser.java (a real DF2 packet in a comment),
//     DataFormat2PacketSerialiser.java, DataFormat8Serialiser.java,
//     data/DataFormatType.java, Nonin9560PulseOxJssc.java (9600 8N1)
//   - drphrozen/javautilityclasses: NoninAndroid/src/dk/iha/nonin/Format8.java
//   - the Oxford/IBME NoninFrame and NoninPacket classes (DF7 layout,
//     missing values 127/511, perfusion bits present only around a pulse)
//
// No code was copied from them. DF7 and DF8 have no public captures: their
// test vectors are built from the specification (see testdata/README.md).
// DF8's bit 7 framing of STATUS2 and its missing-value convention are not
// confirmed by any source read; the decoder assumes bit 7 clear and 127/511.
package nonin
