package forward

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/hl7/hl7test"
)

// BenchmarkSend: messages a second through the outbox to a receiver that
// answers AA at once (claim, send, mark: two commits a message).
//
//	go test -run '^$' -bench BenchmarkSend -benchtime 1x ./monitor/forward
func BenchmarkSend(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			db := benchArchive(b, backend)
			c := newChair(b, "chair-01", "s-1")
			var recs []archive.Record
			for i := range 1000 {
				recs = append(recs, c.nibp(time.Duration(i)*time.Second, 120))
			}
			if _, err := db.Write(context.Background(), archive.Batch{Records: recs}, t0); err != nil {
				b.Fatal(err)
			}
			r := hl7test.Start(b, hl7test.AA)
			cl := newClientB(b, r.Target())
			f, err := New(db, Options{HL7: testHL7, Holder: "r", Send: cl.Send})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			if err := f.Step(context.Background()); err != nil {
				b.Fatal(err)
			}
			if n := len(r.Got()); n != 1000 {
				b.Fatal(fmt.Sprint(n, " sent"))
			}
			b.ReportMetric(1000/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
