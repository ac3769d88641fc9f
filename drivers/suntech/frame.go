package suntech

// Framing constants. The host and the module use different start bytes, so a
// byte stream can never be mistaken for the other direction's frames.
const (
	HostStart   byte = 0x3A // ':' starts every host→module command
	ModuleStart byte = 0x3E // '>' starts every module→host response

	// MinFrameLen is the shortest response the parser accepts: '>' LEN, one
	// data byte (an acknowledge) and CHK. Shorter LEN values carry nothing
	// any known response has, so they are treated as line noise.
	MinFrameLen = 4
	// MaxFrameLen is the longest response (0x43, the version/return string).
	// A larger LEN is line noise; bounding it bounds the parser's memory.
	MaxFrameLen = 0x43

	// Lengths that tell the responses apart (LEN counts the whole frame).
	lenAck      = 4
	lenPressure = 5
	lenResult   = 0x18
	lenVersion  = MaxFrameLen

	// VersionTextLen is the number of data bytes in a version frame.
	VersionTextLen = lenVersion - 3
)

// Checksum returns the byte that, appended to b, makes the sum of all bytes
// zero modulo 256 (the two's complement of the sum). Both directions use it.
func Checksum(b []byte) byte {
	return -sum(b)
}

// sum adds bytes modulo 256.
func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// ValidChecksum reports whether a complete frame, CHK included, sums to zero
// modulo 256.
func ValidChecksum(frame []byte) bool {
	return len(frame) > 0 && sum(frame) == 0
}
