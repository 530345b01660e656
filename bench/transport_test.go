package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/tcpnet"
)

// BenchmarkTransportSend1KiB streams 1 KiB messages from one sender to one
// receiver over loopback TCP and stops the clock only when the receiver holds
// every payload.
//
//   - distkit: tcpnet.Transport.Send, received from Recv.
//   - raw: the same 4-byte length-prefix framing written by hand on a plain
//     net.Conn with a 64 KiB bufio.Writer and bufio.Reader, one allocation per
//     received payload as tcpnet makes. No queue, no goroutine hand-off, no
//     handshake: the physical floor for this framing.
//
// Both use b.N rather than b.Loop because the work includes draining what is
// still in flight after the last send, which b.Loop would leave off the clock.
func BenchmarkTransportSend1KiB(b *testing.B) {
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte(i)
	}
	b.Run("distkit", func(b *testing.B) { transportBenchTCPNet(b, payload) })
	b.Run("raw", func(b *testing.B) { transportBenchRaw(b, payload) })
}

// transportProgressEvery must stay well below tcpnet.DefaultSendQueueSize:
// a full queue then guarantees another progress token is coming.
const transportProgressEvery = 128

func transportBenchTCPNet(b *testing.B, payload []byte) {
	cfg := func(id transport.NodeID) tcpnet.Config {
		// Reject rather than drop, so the sender can wait for room and
		// every message is delivered, as with the raw socket's blocking
		// writes. Other settings are the defaults.
		return tcpnet.Config{NodeID: id, ListenAddr: "127.0.0.1:0", QueuePolicy: tcpnet.Reject}
	}
	sender, err := tcpnet.New(cfg("sender"))
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	receiver, err := tcpnet.New(cfg("receiver"))
	if err != nil {
		b.Fatal(err)
	}
	defer receiver.Close()
	if err := sender.SetPeer("receiver", receiver.Addr().String()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Warm up: connect before the clock starts.
	if err := sender.Send(ctx, "receiver", payload); err != nil {
		b.Fatal(err)
	}
	<-receiver.Recv()

	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan int)
	// progress gets a token every transportProgressEvery deliveries, so a
	// sender that finds the queue full sleeps until the receiver has
	// made room, the way a blocking socket write sleeps in the kernel.
	progress := make(chan struct{}, 1)
	go func() {
		n := 0
		for m := range receiver.Recv() {
			n++
			if n%transportProgressEvery == 0 {
				select {
				case progress <- struct{}{}:
				default:
				}
			}
			if len(m.Payload) != len(payload) {
				break
			}
			if n == b.N {
				break
			}
		}
		done <- n
	}()
	for i := 0; i < b.N; {
		err := sender.Send(ctx, "receiver", payload)
		switch {
		case err == nil:
			i++
		case errors.Is(err, transport.ErrQueueFull):
			<-progress
		default:
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d messages, want %d", n, b.N)
	}
}

func transportBenchRaw(b *testing.B, payload []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	in, ok := <-accepted
	if !ok {
		b.Fatal("accept failed")
	}
	defer in.Close()

	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(in, 64<<10)
		var hdr [4]byte
		for range b.N {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				done <- err
				return
			}
			p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(br, p); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	bw := bufio.NewWriterSize(out, 64<<10)
	var hdr [4]byte
	for range b.N {
		binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
		if _, err := bw.Write(hdr[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := bw.Write(payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
