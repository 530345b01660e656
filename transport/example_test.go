package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// echoOnce answers the first message it receives. It is written against the
// Transport interface only, so the same code runs on memnet in tests and on
// tcpnet in production.
func echoOnce(ctx context.Context, t transport.Transport) error {
	m, ok := <-t.Recv()
	if !ok {
		return transport.ErrClosed
	}
	// m.From was set by the transport, not by the sender.
	return t.Send(ctx, m.From, append([]byte("echo: "), m.Payload...))
}

func Example() {
	ctx := context.Background()
	network, err := memnet.New(memnet.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer network.Close()
	client, err := network.Join("client")
	if err != nil {
		log.Fatal(err)
	}
	server, err := network.Join("server")
	if err != nil {
		log.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- echoOnce(ctx, server) }()

	if err := client.Send(ctx, "server", []byte("hello")); err != nil {
		log.Fatal(err)
	}
	reply := <-client.Recv()
	fmt.Printf("%s -> %s: %s\n", reply.From, reply.To, reply.Payload)
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	// Errors are sentinels: test them with errors.Is.
	err = client.Send(ctx, "server", make([]byte, transport.DefaultMaxPayload+1))
	fmt.Println(errors.Is(err, transport.ErrTooLarge))
	client.Close()
	fmt.Println(errors.Is(client.Send(ctx, "server", nil), transport.ErrClosed))
	// Output:
	// server -> client: echo: hello
	// true
	// true
}
