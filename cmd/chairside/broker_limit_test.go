package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// The shipped mosquitto.conf bounds packets: a publish over the limit to a
// chair's cmd topic never reaches the chair (one of 250 MB took the daemon
// to 729 MB), while ordinary messages go through. The test runs a real
// mosquitto with the shipped config's limit lines.
func TestShippedBrokerConfigRefusesHugePublish(t *testing.T) {
	brokertest.NeedMosquitto(t)
	shipped, err := os.ReadFile(filepath.Join("..", "..", "configs", "mosquitto", "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var limits []string
	sc := bufio.NewScanner(bytes.NewReader(shipped))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "max_packet_size ") || strings.HasPrefix(l, "message_size_limit ") {
			limits = append(limits, l)
		}
	}
	if len(limits) == 0 {
		t.Fatal("configs/mosquitto/mosquitto.conf sets no max_packet_size")
	}
	dir := t.TempDir()
	port := brokertest.FreePorts(t, 1)[0]
	conf := fmt.Sprintf("per_listener_settings false\npersistence false\nlog_dest stderr\nuser root\nlistener %d 127.0.0.1\nallow_anonymous true\n%s\n",
		port, strings.Join(limits, "\n"))
	if err := os.WriteFile(filepath.Join(dir, "m.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	mq := exec.Command("/usr/sbin/mosquitto", "-c", filepath.Join(dir, "m.conf"))
	childproc.DieWithParent(mq, syscall.SIGKILL)
	if err := mq.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mq.Process.Kill(); _ = mq.Wait() })
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	connect := func(id string) paho.Client {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetConnectRetry(true).
			SetConnectRetryInterval(50 * time.Millisecond).SetAutoReconnect(false))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", id, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		return c
	}
	chair := connect("chair")
	var small, big atomic.Int32
	tok := chair.Subscribe("chairside/chair-07/cmd", 1, func(_ paho.Client, m paho.Message) {
		if len(m.Payload()) > 1<<20 {
			big.Add(1)
		} else {
			small.Add(1)
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	station := connect("station")
	station.Publish("chairside/chair-07/cmd", 1, false, bytes.Repeat([]byte("x"), 2<<20)).WaitTimeout(5 * time.Second)
	station2 := connect("station2")
	station2.Publish("chairside/chair-07/cmd", 1, false, `{"v":1}`).WaitTimeout(5 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for small.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if small.Load() != 1 || big.Load() != 0 {
		t.Fatalf("delivered %d small and %d huge messages, want 1 and 0", small.Load(), big.Load())
	}
}
