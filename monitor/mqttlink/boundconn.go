package mqttlink

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// boundedConn cuts what the broker sends to the chair down to a size the
// chair can hold. paho reads every packet whole into memory, with no bound of
// its own: one 250 MB message on the chair's command topic took the daemon to
// 729 MB, an out-of-memory kill on a Pi. A PUBLISH whose remaining length
// is over max reaches paho with its payload cut to the first max bytes (less
// its headers), and the rest is read and thrown away as it streams in: paho
// acknowledges it as usual, and the command parser refuses the cut payload
// with a reply (it keeps the head, so the request id is still readable).
// Every other packet passes unchanged. The broker's own limit
// (max_packet_size in the shipped mosquitto.conf) is the first line; this is
// the one the chair does not leave to others.
type boundedConn struct {
	net.Conn
	max int

	buf  [4096]byte
	out  []byte         // bytes ready for paho
	skip int            // bytes of the current packet still to read and drop
	pass int            // bytes of the current packet still to pass through
	hdr  []byte         // a fixed header being read
	cut  uint64         // packets cut on this connection (tests)
	cuts *atomic.Uint64 // the link's count of packets cut (Stats.InboundCut); may be nil
}

// maxInboundPacket bounds what the chair takes in one packet: its commands
// are at most 4 KiB and its own heartbeats smaller.
const maxInboundPacket = 64 << 10

// openBounded dials the broker as paho would (tcp:// or ssl://) and wraps
// the connection in a boundedConn.
func openBounded(max int, cuts *atomic.Uint64) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		d := o.Dialer
		if d == nil {
			d = &net.Dialer{Timeout: o.ConnectTimeout}
		}
		var c net.Conn
		var err error
		switch uri.Scheme {
		case "tcp", "mqtt":
			c, err = d.Dial("tcp", uri.Host)
		case "ssl", "tls", "mqtts":
			c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
		default:
			return nil, fmt.Errorf("broker scheme %q is not supported (tcp or ssl)", uri.Scheme)
		}
		if err != nil {
			return nil, err
		}
		return &boundedConn{Conn: c, max: max, cuts: cuts}, nil
	}
}

// Read gives paho the stream with oversized PUBLISH packets cut.
func (b *boundedConn) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if err := b.fill(); err != nil && len(b.out) == 0 {
			return 0, err
		} // with bytes read as well, they go first; the error comes again
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// fill reads more of the stream into out.
func (b *boundedConn) fill() error {
	switch {
	case b.pass > 0:
		n, err := b.Conn.Read(b.buf[:min(b.pass, len(b.buf))])
		b.pass -= n
		b.out = b.buf[:n]
		return err
	case b.skip > 0:
		n, err := b.Conn.Read(b.buf[:min(b.skip, len(b.buf))])
		b.skip -= n
		return err
	}
	// A fixed header: the type byte and 1 to 4 bytes of remaining length.
	var one [1]byte
	if _, err := io.ReadFull(b.Conn, one[:]); err != nil {
		return err
	}
	b.hdr = append(b.hdr[:0], one[0])
	length, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return errors.New("mqttlink: malformed remaining length from the broker")
		}
		if _, err := io.ReadFull(b.Conn, one[:]); err != nil {
			return err
		}
		b.hdr = append(b.hdr, one[0])
		length += int(one[0]&0x7f) * mult
		mult *= 128
		if one[0]&0x80 == 0 {
			break
		}
	}
	if b.hdr[0]>>4 != 3 || length <= b.max { // not a PUBLISH, or small enough
		b.out = b.hdr
		b.pass = length
		return nil
	}
	return b.cutPublish(length)
}

// cutPublish reads an oversized PUBLISH's variable header (topic and, at
// QoS 1 or 2, the packet id), keeps the head of its payload so the whole
// packet is max bytes, and drops the rest as it arrives.
func (b *boundedConn) cutPublish(length int) error {
	var tl [2]byte
	if _, err := io.ReadFull(b.Conn, tl[:]); err != nil {
		return err
	}
	vh := 2 + (int(tl[0])<<8 | int(tl[1]))
	if (b.hdr[0]>>1)&3 > 0 {
		vh += 2
	}
	if vh > b.max || vh > length {
		return fmt.Errorf("mqttlink: a PUBLISH from the broker with a %d-byte header", vh)
	}
	keep := b.max - vh
	body := make([]byte, vh+keep)
	copy(body, tl[:])
	if _, err := io.ReadFull(b.Conn, body[2:]); err != nil {
		return err
	}
	b.cut++
	if b.cuts != nil {
		b.cuts.Add(1)
	}
	b.out = append(append([]byte{b.hdr[0]}, remainingLength(len(body))...), body...)
	b.skip = length - len(body)
	return nil
}

// remainingLength encodes an MQTT variable-length integer.
func remainingLength(n int) []byte {
	var out []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			return out
		}
	}
}
