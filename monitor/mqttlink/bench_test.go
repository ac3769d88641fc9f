package mqttlink

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// BenchmarkPublishQoS1 measures QoS 1 publishes to a local broker, each
// counted when its PUBACK has come back (done(nil)). window is how many the
// caller keeps in flight: 1 is one record at a time (latency-bound), 256 is
// an outbox draining its backlog. Against mochi the broker runs in this
// process, so allocs/op include the broker's; the mosquitto figures are the
// link's (and paho's) alone.
//
//	go test -run '^$' -bench PublishQoS1 -benchmem ./monitor/mqttlink/
func BenchmarkPublishQoS1(b *testing.B) {
	for _, window := range []int{1, 256} {
		b.Run(fmt.Sprintf("mochi/window=%d", window), func(b *testing.B) {
			benchPublish(b, startMochi(b, nil).url(), window)
		})
	}
	for _, window := range []int{1, 256} {
		b.Run(fmt.Sprintf("mosquitto/window=%d", window), func(b *testing.B) {
			benchPublish(b, brokertest.StartMosquitto(b).PlainURL(), window)
		})
	}
}

func benchPublish(b *testing.B, url string, window int) {
	cfg := Config{
		Broker: url, ClientID: clientID("bench"), Logger: slog.New(slog.DiscardHandler),
		MaxInFlight: 1000,
	}
	l, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = l.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	deadline := time.Now().Add(10 * time.Second)
	for !l.Up() {
		if time.Now().After(deadline) {
			b.Fatal("no connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	payload := []byte(`{"v":1,"stream":"0f3c9a2e","seq":123456,"boot":7,"clock_synced":true,"t":"2026-11-22T08:00:00.123Z","session":"s-1","param":"spo2","value":97,"unit":"%","source":"nonin","flags":[]}`)
	slots := make(chan struct{}, window)
	failed := make(chan error, 1)
	done := func(err error) {
		if err != nil {
			select {
			case failed <- err:
			default:
			}
		}
		<-slots
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		slots <- struct{}{}
		l.Publish("chairside/chair-bench/vitals/spo2", 1, false, payload, done)
	}
	for range window { // wait for the last PUBACKs
		slots <- struct{}{}
	}
	el := time.Since(start)
	b.StopTimer()
	select {
	case err := <-failed:
		b.Fatalf("publish failed: %v", err)
	default:
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}
