package mqttlink

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// A PUBLISH over the bound reaches paho cut to the bound, with its topic,
// QoS and packet id (so paho acknowledges it) and the head of its payload
// (so the command parser can still read the request id and refuse it); the
// rest is read and dropped as it streams; packets before and after pass
// unchanged. Memory stays at the bound, not the packet's size.
func TestBoundedConnCutsOversizedPublish(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	const max = 1024
	conn := &boundedConn{Conn: client, max: max}

	small := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	small.TopicName, small.Qos, small.MessageID, small.Payload = "chairside/chair-01/cmd", 1, 7, []byte(`{"v":1,"id":"small"}`)
	huge := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	huge.TopicName, huge.Qos, huge.MessageID = "chairside/chair-01/cmd", 1, 8
	huge.Payload = append([]byte(`{"v":1,"id":"huge-1","note":"`), bytes.Repeat([]byte("x"), 5<<20)...)
	ping := packets.NewControlPacket(packets.Pingresp)

	go func() {
		for _, p := range []packets.ControlPacket{small, huge, ping} {
			if err := p.Write(server); err != nil {
				return
			}
		}
	}()

	got, err := packets.ReadPacket(conn)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(*packets.PublishPacket); p.MessageID != 7 || string(p.Payload) != string(small.Payload) {
		t.Fatalf("small publish changed: %v %q", p, p.Payload)
	}
	got, err = packets.ReadPacket(conn)
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*packets.PublishPacket)
	vh := 2 + len(huge.TopicName) + 2
	if p.TopicName != huge.TopicName || p.Qos != 1 || p.MessageID != 8 || len(p.Payload) != max-vh || !bytes.HasPrefix(huge.Payload, p.Payload) {
		t.Fatalf("cut publish: topic %q qos %d id %d payload %d bytes", p.TopicName, p.Qos, p.MessageID, len(p.Payload))
	}
	got, err = packets.ReadPacket(conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.(*packets.PingrespPacket); !ok {
		t.Fatalf("after the cut packet: %T", got)
	}
	if conn.cut != 1 {
		t.Fatalf("cut %d packets, want 1", conn.cut)
	}
}

func TestRemainingLength(t *testing.T) {
	for _, n := range []int{0, 127, 128, 16383, 16384, 2097151, 2097152, 268435455} {
		b := remainingLength(n)
		v, mult := 0, 1
		for _, d := range b {
			v += int(d&0x7f) * mult
			mult *= 128
		}
		if v != n || len(b) > 4 {
			t.Fatalf("%d encodes as %x", n, b)
		}
	}
}

// Through a real mosquitto with no size limit of its own: an 8 MB command
// reaches the chair's handler cut to the link's bound, the link stays up,
// and the next command arrives whole.
func TestLinkBoundsInboundMessages(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	obs := observe(t, m.PlainURL(), "chairside/#")
	got := make(chan Message, 4)
	l := runLink(t, baseConfig(t, m.PlainURL()), func(l *Link) {
		if err := l.Subscribe("chairside/chair-t/cmd", 1, func(msg Message) { got <- msg }); err != nil {
			t.Fatal(err)
		}
	})
	waitUp(t, l.Link)
	eventually(t, "subscribed", func() bool {
		obs.publish(t, "chairside/chair-t/cmd", "ping")
		select {
		case <-got:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	big := `{"v":1,"id":"huge-1","note":"` + strings.Repeat("x", 8<<20) + `"}`
	obs.publish(t, "chairside/chair-t/cmd", big)
	obs.publish(t, "chairside/chair-t/cmd", "after")
	for _, want := range []string{"huge", "after"} {
		select {
		case msg := <-got:
			switch {
			case want == "huge" && (len(msg.Payload) > maxInboundPacket || !strings.HasPrefix(big, string(msg.Payload))):
				t.Fatalf("the 8 MB message reached the handler with %d bytes", len(msg.Payload))
			case want == "after" && string(msg.Payload) != "after":
				t.Fatalf("after the cut message: %q", msg.Payload)
			}
		case <-time.After(waitLong):
			t.Fatalf("no %s message", want)
		}
	}
	if !l.Up() {
		t.Fatal("the link went down over a large message")
	}
	if n := l.Stats().InboundCut; n != 1 {
		t.Fatalf("Stats.InboundCut = %d, want 1", n)
	}
}
