package postgres

import (
	"context"
	"testing"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// BenchmarkAuditAppend_Parallel is the audit append as the server does it: many requests at once,
// each answered only after its own record is committed (issue #15, "group commit").
func BenchmarkAuditAppend_Parallel(b *testing.B) {
	pool := testPool(b)
	st := &AuditStore{Pool: pool}
	ctx := context.Background()
	b.SetParallelism(8) // 8 × GOMAXPROCS concurrent requests
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Append(ctx, &audit.Record{Status: 200, PartyID: "12345678901"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
