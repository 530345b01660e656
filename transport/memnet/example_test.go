package memnet_test

import (
	"context"
	"fmt"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// tryRecv returns the next message in ep's queue, if there is one. With the
// zero Link, delivery is synchronous, so a message that was not dropped is
// already in the queue when Send returns.
func tryRecv(ep *memnet.Endpoint) (transport.Message, bool) {
	select {
	case m := <-ep.Recv():
		return m, true
	default:
		return transport.Message{}, false
	}
}

// Example partitions a three-node cluster, shows that a message across the
// partition is lost, then heals the network and sends it again.
func Example() {
	net, err := memnet.New(memnet.Config{Seed: 1})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	a, _ := net.Join("a")
	b, _ := net.Join("b")
	c, _ := net.Join("c")
	ctx := context.Background()

	// a alone on one side, b and c on the other.
	net.Partition([]transport.NodeID{"a"}, []transport.NodeID{"b", "c"})
	_ = a.Send(ctx, "b", []byte("hello from a")) // accepted, then dropped
	_ = c.Send(ctx, "b", []byte("hello from c")) // same side: delivered
	for {
		m, ok := tryRecv(b)
		if !ok {
			break
		}
		fmt.Printf("partitioned: b got %q from %s\n", m.Payload, m.From)
	}
	fmt.Println("a->b dropped by partition:", net.Stats("a", "b").DroppedPartition)

	net.Heal()
	_ = a.Send(ctx, "b", []byte("hello again from a"))
	if m, ok := tryRecv(b); ok {
		fmt.Printf("healed: b got %q from %s\n", m.Payload, m.From)
	}
	fmt.Println("a->b delivered:", net.Stats("a", "b").Delivered)

	// Output:
	// partitioned: b got "hello from c" from c
	// a->b dropped by partition: 1
	// healed: b got "hello again from a" from a
	// a->b delivered: 1
}
