package tcpnet_test

import (
	"context"
	"fmt"

	"github.com/distkit/distkit/transport/tcpnet"
)

// Two nodes on loopback: b learns a's address, a learns b's, and a message
// goes each way. The sender's identity comes from the connection handshake.
func Example() {
	a, err := tcpnet.New(tcpnet.Config{NodeID: "a", ClusterName: "demo"})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := tcpnet.New(tcpnet.Config{NodeID: "b", ClusterName: "demo"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if err := a.SetPeer("b", b.Addr().String()); err != nil {
		panic(err)
	}
	if err := b.SetPeer("a", a.Addr().String()); err != nil {
		panic(err)
	}

	ctx := context.Background()
	if err := a.Send(ctx, "b", []byte("ping")); err != nil {
		panic(err)
	}
	m := <-b.Recv()
	fmt.Printf("%s got %q from %s\n", m.To, m.Payload, m.From)
	if err := b.Send(ctx, m.From, []byte("pong")); err != nil {
		panic(err)
	}
	m = <-a.Recv()
	fmt.Printf("%s got %q from %s\n", m.To, m.Payload, m.From)
	// Output:
	// b got "ping" from a
	// a got "pong" from b
}

// NodeURI is the subject alternative name a node's certificate carries for
// mutual TLS; put it in x509.Certificate.URIs when issuing the certificate.
func ExampleNodeURI() {
	fmt.Println(tcpnet.NodeURI("node-1"))
	fmt.Println(tcpnet.NodeURI("eu/west 2"))
	// Output:
	// distkit://node/node-1
	// distkit://node/eu%2Fwest%202
}
