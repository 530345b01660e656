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

// ExampleNetwork_Crash crashes a node: what was queued for it is lost, it
// cannot send, and after Restart the same Endpoint works again.
func ExampleNetwork_Crash() {
	net, err := memnet.New(memnet.Config{})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	a, _ := net.Join("a")
	b, _ := net.Join("b")
	ctx := context.Background()

	_ = a.Send(ctx, "b", []byte("queued before the crash"))
	net.Crash("b")
	fmt.Println("b sends while crashed:", b.Send(ctx, "a", []byte("hi")))
	_, ok := tryRecv(b)
	fmt.Println("b has a message after the crash:", ok)

	net.Restart("b")
	_ = a.Send(ctx, "b", []byte("after the restart"))
	m, _ := tryRecv(b)
	fmt.Printf("b got %q\n", m.Payload)
	s := net.Stats("a", "b")
	fmt.Printf("a->b sent %d, delivered %d, dropped by crash %d\n", s.Sent, s.Delivered, s.DroppedCrash)

	// Output:
	// b sends while crashed: memnet: "b" send: transport: node crashed
	// b has a message after the crash: false
	// b got "after the restart"
	// a->b sent 2, delivered 1, dropped by crash 1
}

// ExampleNetwork_SetLink makes one direction of a link lossy and leaves the
// rest of the network perfect. The outcome is fixed by the seed.
func ExampleNetwork_SetLink() {
	net, err := memnet.New(memnet.Config{Seed: 42})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	a, _ := net.Join("a")
	b, _ := net.Join("b")
	if err := net.SetLink("a", "b", memnet.Link{Loss: 0.5}); err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := range 100 {
		_ = a.Send(ctx, "b", []byte{byte(i)})
		_ = b.Send(ctx, "a", []byte{byte(i)})
	}
	ab, ba := net.Stats("a", "b"), net.Stats("b", "a")
	fmt.Println("a->b delivered + lost:", ab.Delivered+ab.DroppedLoss, "lost some:", ab.DroppedLoss > 0)
	fmt.Println("b->a delivered:", ba.Delivered)

	// Output:
	// a->b delivered + lost: 100 lost some: true
	// b->a delivered: 100
}
