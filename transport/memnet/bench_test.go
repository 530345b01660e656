package memnet_test

import (
	"context"
	"testing"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// BenchmarkSendRecv measures one 1 KiB message through a fault-free link,
// from Send to the receiver's channel.
func BenchmarkSendRecv(b *testing.B) {
	net, err := memnet.New(memnet.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	a, _ := net.Join("a")
	c, _ := net.Join("b")
	payload := make([]byte, 1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := a.Send(ctx, "b", payload); err != nil {
			b.Fatal(err)
		}
		<-c.Recv()
	}
}

// BenchmarkSendPartitioned measures the cost of deciding a message's fate
// when the decision is to drop it: the copy, the random draws and the
// topology check.
func BenchmarkSendPartitioned(b *testing.B) {
	net, err := memnet.New(memnet.Config{Link: memnet.Link{Loss: 0.1, Duplicate: 0.1}})
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	a, _ := net.Join("a")
	_, _ = net.Join("b")
	net.Partition([]transport.NodeID{"a"})
	payload := make([]byte, 1024)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Send(ctx, "b", payload); err != nil {
			b.Fatal(err)
		}
	}
}
