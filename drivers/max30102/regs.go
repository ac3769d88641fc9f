package max30102

// Register addresses (datasheet table 1).
const (
	regIntStatus1 = 0x00
	regIntStatus2 = 0x01
	regIntEnable1 = 0x02
	regIntEnable2 = 0x03
	regFIFOWrPtr  = 0x04
	regOvfCounter = 0x05
	regFIFORdPtr  = 0x06
	regFIFOData   = 0x07
	regFIFOConfig = 0x08
	regModeConfig = 0x09
	regSpO2Config = 0x0A
	regLED1PA     = 0x0C // red
	regLED2PA     = 0x0D // infrared
	regTempInt    = 0x1F
	regTempFrac   = 0x20
	regTempConfig = 0x21
	regRevID      = 0xFE
	regPartID     = 0xFF
)

// Bits and values.
const (
	intAFull      = 0x80
	intPPGRdy     = 0x40
	intALCOvf     = 0x20
	intPwrRdy     = 0x01
	intDieTempRdy = 0x02

	modeShutdown = 0x80
	modeReset    = 0x40
	modeHR       = 0x02
	modeSpO2     = 0x03
	modeMultiLED = 0x07
	modeMask     = 0x07

	fifoRollover = 0x10

	tempEnable = 0x01

	// PartID is the value of register 0xFF on a MAX30102, MAX30101 and MAX30105.
	PartID = 0x15
	// partIDMAX30100 is the older part, with a different register map.
	partIDMAX30100 = 0x11

	// DefaultAddr is the part's fixed 7-bit I²C address.
	DefaultAddr = 0x57

	// FIFODepth is the number of samples the FIFO holds.
	FIFODepth = 32
	// bytesPerSample in SpO2 mode: red and IR, 3 bytes each.
	bytesPerSample = 6
	// FullScale is the largest sample value (18 bits).
	FullScale = 1<<18 - 1
)
