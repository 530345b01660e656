package tcpnet

import (
	"context"
	"testing"
)

// BenchmarkSend measures the cost of Send itself: queueing a 1 KiB payload
// for a connected peer whose writer drains the queue concurrently.
func BenchmarkSend(b *testing.B) {
	a, err := New(Config{NodeID: "a"})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	r, err := New(Config{NodeID: "r"})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	go func() {
		for range r.Recv() {
		}
	}()
	if err := a.SetPeer("r", r.Addr().String()); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1024)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Send(ctx, "r", payload); err != nil {
			b.Fatal(err)
		}
	}
}
