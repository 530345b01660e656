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

// BenchmarkPingPong measures one round trip of a 100-byte message between
// two connected transports over loopback: a sends, b's reader echoes it
// back. It is the latency a lightly loaded protocol sees per hop pair.
func BenchmarkPingPong(b *testing.B) {
	a, err := New(Config{NodeID: "a", ClusterName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	e, err := New(Config{NodeID: "e", ClusterName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := a.SetPeer("e", e.Addr().String()); err != nil {
		b.Fatal(err)
	}
	if err := e.SetPeer("a", a.Addr().String()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	go func() {
		for m := range e.Recv() {
			_ = e.Send(ctx, m.From, m.Payload)
		}
	}()
	payload := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Send(ctx, "e", payload); err != nil {
			b.Fatal(err)
		}
		<-a.Recv()
	}
}
