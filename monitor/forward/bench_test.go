package forward

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive"
)

// BenchmarkDueMinutes: one forwarding pass's search for complete minutes
// with 500 chairs in session (one open minute each, and the one before it
// just complete): what each second's pass costs the database.
//
//	go test -run '^$' -bench BenchmarkDueMinutes -benchtime 20x ./monitor/forward
func BenchmarkDueMinutes(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			db := benchArchive(b, backend)
			for i := range 500 {
				c := newChair(b, fmt.Sprintf("chair-%03d", i), fmt.Sprintf("s-%d", i))
				if _, err := db.Write(context.Background(), archive.Batch{Records: c.seconds(30, 90)}, t0); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				due, err := db.DueMinutes(context.Background(), t0.Add(10*time.Second), DefaultQuiet, 0)
				if err != nil || len(due) != 500 {
					b.Fatalf("%d due, %v", len(due), err)
				}
			}
		})
	}
}
