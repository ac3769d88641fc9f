// Package max30102 reads a Maxim (Analog Devices) MAX30102 or MAX30101 pulse
// oximetry front end over I²C and models such a part for tests and the
// simulator.
//
// The part gives raw light, not SpO2: this package delivers red and infrared
// samples and nothing more; monitor/ppg turns them into SpO2 and pulse.
//
// # Features
//
//   - Dev: the driver, on any periph.io i2c.Bus. New detects the part (part
//     ID 0x15 at register 0xFF; the MAX30101 and MAX30105 answer the same, a
//     MAX30100 (0x11) is refused by name), resets it, and configures SpO2 mode
//     (sample rate, pulse width = ADC resolution, ADC range, red and IR LED
//     currents, on-chip averaging, FIFO rollover, almost-full level). Read
//     drains the FIFO by its write and read pointers, so a sample is neither
//     lost nor read twice, and reports the overflow counter as lost samples.
//     A bus error (a NACK when the board is unplugged) makes the next Read
//     detect, reset and configure the part again; a part that reset itself
//     (power glitch) is noticed by its mode register and configured again.
//     Temperature reads the die temperature; FingerOff tells a finger from
//     no finger by the infrared DC level.
//   - Sensor: the part run as chairside's oximeter, a drivers.Driver
//     (NewSensor(bus, *SensorOpts), Run, Halt, String): it opens the bus
//     through periph (host.Init, i2creg.Open), polls the FIFO, feeds
//     monitor/ppg, sends SpO2 and pulse (null with flags when withheld,
//     always uncalibrated; probe_off at once when the infrared level drops)
//     and the sample counts (lost samples as garbled), and reopens the bus
//     every Retry while the part is gone, sending nothing.
//   - Model: a register-level model of the part (register file, 32-sample
//     FIFO with write and read pointers, overflow counter, rollover, part and
//     revision IDs, reset, die temperature, unplug) that is itself an
//     i2c.Bus (and BusCloser), for tests and vitalsim. Finger is a made-up
//     pulse of known SpO2 and rate, and Play pushes it into a Model at the
//     configured rate.
//
// # Datasheet
//
// MAX30102 datasheet, rev 1 (Maxim, 2018):
// https://www.analog.com/media/en/technical-documentation/data-sheets/MAX30102.pdf
// and MAX30101:
// https://www.analog.com/media/en/technical-documentation/data-sheets/MAX30101.pdf
//
// The facts this package relies on:
//
//   - 7-bit address 0x57. REV_ID 0xFE, PART_ID 0xFF = 0x15.
//   - 0x00/0x01 interrupt status (read clears): A_FULL bit 7, PPG_RDY bit 6,
//     ALC_OVF bit 5, PWR_RDY bit 0; DIE_TEMP_RDY bit 1 of 0x01. 0x02/0x03
//     enable the same bits.
//   - 0x04 FIFO_WR_PTR, 0x05 OVF_COUNTER, 0x06 FIFO_RD_PTR, all 5 bits: the
//     FIFO holds 32 samples; available = (WR − RD) mod 32, and 32 when the
//     pointers are equal and the overflow counter is not 0. Writing 0 to the
//     three clears the FIFO.
//   - 0x07 FIFO_DATA: reading it pops samples without moving the register
//     pointer; in SpO2 mode each sample is 6 bytes, red then IR, each 3 bytes
//     big-endian with the 18-bit value left-justified (bits 17..0; lower
//     resolutions leave the low bits 0).
//   - 0x08 FIFO_CONFIG: SMP_AVE bits 7..5 (1, 2, 4, 8, 16, 32 samples),
//     FIFO_ROLLOVER_EN bit 4, FIFO_A_FULL bits 3..0 = empty slots left when
//     A_FULL rises.
//   - 0x09 MODE_CONFIG: SHDN bit 7, RESET bit 6 (self-clearing), mode bits
//     2..0: 0x02 heart rate (red), 0x03 SpO2 (red + IR), 0x07 multi-LED.
//   - 0x0A SPO2_CONFIG: ADC range bits 6..5 (2048, 4096, 8192, 16384 nA full
//     scale), sample rate bits 4..2 (50, 100, 200, 400, 800, 1000, 1600, 3200
//     per second), pulse width bits 1..0 (69, 118, 215, 411 µs = 15, 16, 17,
//     18 bits). Not every pair is allowed: in SpO2 mode 411 µs allows at most
//     400 per second, 215 µs 800, 118 µs 1000, 69 µs 1600 (the datasheet's
//     table of allowed SpO2-mode settings; these limits were not checked on
//     a part).
//   - 0x0C LED1_PA (red), 0x0D LED2_PA (IR): 0.2 mA per step, 0xFF ≈ 51 mA.
//   - 0x1F TEMP_INT (signed °C), 0x20 TEMP_FRAC (× 0.0625 °C), 0x21 TEMP_EN
//     bit 0 starts a conversion and clears itself when done (about 29 ms).
//
// With rollover on, the datasheet says only that the FIFO "continues to fill
// with new data" when full. The model then drops the oldest sample (the read
// pointer moves with the write pointer) and counts it in the overflow
// counter, which is what the driver reports as lost; this reading of the
// datasheet is not confirmed on a part. The default is rollover off, where
// the part stops filling and the overflow counter says exactly how many
// samples were lost.
//
// No code was copied from SparkFun's MAX3010x library, Maxim's RD117 or
// TinyGo's driver; they were read for the register facts above.
package max30102
