// Package tcpnet is a transport.Transport over TCP, with optional TLS and
// mutual TLS, for running distkit's protocols between processes and
// machines.
//
// # Usage
//
// Each node creates one Transport with its NodeID, a listen address and the
// addresses of its peers, then sends with Send and receives from Recv:
//
//	tr, err := tcpnet.New(tcpnet.Config{
//		NodeID:      "n1",
//		ClusterName: "orders-prod",
//		ListenAddr:  "10.0.0.1:7000",
//		Peers:       map[transport.NodeID]string{"n2": "10.0.0.2:7000", "n3": "10.0.0.3:7000"},
//		TLS:         tcpnet.MutualTLSConfig(cert, roots),
//	})
//	if err != nil { ... }
//	defer tr.Close()
//	err = tr.Send(ctx, "n2", payload)
//	for m := range tr.Recv() { ... m.From, m.Payload ... }
//
// New listens at once and starts accepting: a transport exists to be
// reachable, and binding in New lets Addr report the real port of
// "host:0" and lets New fail on a port already in use. Outbound connections
// open lazily, on the first Send to each peer. SetPeer and RemovePeer change
// the address book at run time. examples/echo is a complete three-node
// cluster with mutual TLS and certificates made in memory.
//
// # Connections and wire format
//
// The sender dials. There is one outbound connection per peer, used only to
// write; inbound connections are used only to read. A node that answers a
// message does so on its own outbound connection. On connect the dialler
// sends a hello (a version byte, its NodeID, the NodeID it means to reach,
// the cluster name); the listener refuses a hello for another cluster or
// another node, and answers with a one-byte verdict. Then come frames: a
// 4-byte big-endian length and the payload. Message.From is the NodeID from
// the hello, never anything inside a payload.
//
// Send puts the payload on the peer's bounded queue (SendQueueSize) and
// returns. The peer's writer goroutine drains the whole queue into a 64 KiB
// buffered writer and flushes when the queue is empty, so a burst of small
// messages leaves in a few large writes and a lone message leaves at once.
// On Linux, over plain TCP, a message to a peer whose connection is open and
// idle (nothing queued or buffered, the writer not writing) is written into
// the socket by Send itself with one non-blocking write, saving a hand-off
// to the writer goroutine; whatever the socket does not take at once is
// finished by the writer, so Send still never waits for the network.
// When the queue is full, QueuePolicy decides: DropOldest (the default)
// discards the oldest message and counts it, Reject returns
// transport.ErrQueueFull. A peer that cannot be reached is retried with
// capped exponential backoff and full jitter (BackoffBase, BackoffMax); its
// messages wait in the queue meanwhile, under the same QueuePolicy.
//
// # Security
//
// With Config.TLS every connection is TLS. For mutual TLS (MutualTLSConfig,
// or ClientAuth set to tls.RequireAndVerifyClientCert), each node's
// certificate names its NodeID in a URI SAN, distkit://node/<NodeID> (see
// NodeURI and CertNodeID). The listener refuses a hello whose NodeID is not
// the one in the client's verified certificate, so no node can send as
// another; a listener that verifies client certificates (ClientAuth
// tls.VerifyClientCertIfGiven or stricter) also refuses a client that
// presents none, which would otherwise be free to claim any NodeID; the dialler refuses a server whose certificate does not name the
// NodeID it dialled, so a wrong address book entry cannot leak messages to
// the wrong node. Host names are not checked: identities are NodeIDs. The
// listener accepts any node of the cluster, whether or not it is in the
// address book (which governs only where this node sends): with mutual TLS,
// any node holding a certificate from a trusted CA. Without
// mutual TLS the NodeID in the hello is taken on trust, and the cluster name
// is a guard against mistakes, not a secret.
//
// # Hostile input
//
// Every inbound connection is bounded: at most MaxInboundConns at once
// and at most MaxPendingPerIP from one IP address still in their handshake
// (more are closed on accept, so one source cannot hold every slot with
// connections that never authenticate), HandshakeTimeout to complete TLS
// and the hello, IdleTimeout between frames, ReadTimeout to finish a frame once it
// has started, MaxFrameSize per frame, and a large frame's buffer grows with
// the bytes that actually arrive rather than with the length it announces.
// Garbage, an oversized length, a stalled half frame or a refused handshake
// closes that connection only, logs a "reason", and counts in
// Status.RefusedConns; other connections carry on. Refusals at accept and
// during the handshake are logged at most once a second for each kind of
// refusal, so a flood cannot flood the log; the next line logged for a kind
// carries "suppressed", how many were left out, and RefusedConns counts
// every one.
//
// # Memory
//
// The receive side's memory is bounded by configuration, not by what peers
// announce. In the worst case a Transport holds:
//
//   - frames being read: at most one per inbound connection, each up to
//     MaxFrameSize (and briefly up to twice that while its buffer grows),
//     so MaxFrameSize × MaxInboundConns, plus a 64 KiB read buffer per
//     connection;
//   - frames received but not yet taken from Recv: RecvQueueSize ×
//     MaxFrameSize.
//
// With the defaults (16 MiB frames, 256 inbound connections, a Recv queue of
// 1024) that is 4 GiB being read, 16 MiB of read buffers and 16 GiB queued:
// limits that keep a hostile or buggy peer from growing memory without end,
// not a budget to plan for. A peer cannot make the frames-being-read term
// grow faster than it actually sends bytes, and reaching it takes
// MaxInboundConns connections that have completed the handshake (with
// mutual TLS, connections from certificate holders). To fit a budget M,
// choose MaxFrameSize × (MaxInboundConns + RecvQueueSize) comfortably below
// M: MaxFrameSize is the largest message your protocol sends (a Raft
// snapshot chunk, a gossip digest), MaxInboundConns is a few times the
// cluster size, and RecvQueueSize is however many messages the consumer
// should be allowed to lag by. For example a 5-node cluster with 1 MiB
// frames, MaxInboundConns 32 and RecvQueueSize 256 is bounded by about
// 288 MiB. The send side holds, per peer, up to SendQueueSize payloads that
// callers passed to Send (not copies), each at most MaxFrameSize.
//
// # Guarantees and limits
//
// Delivery is best effort, as the transport package describes: a message is
// lost if its connection fails after Send returned, if the peer is removed or
// the Transport closed while it is queued, or if the queue overflows. In
// practice messages on one connection arrive in order and without
// duplicates, but protocols must not rely on it: a reconnect can lose
// messages, and the contract allows reordering. Status reports per-peer
// counters (sent, dropped, rejected, lost, connects).
//
// # Concurrency
//
// A Transport is safe for concurrent use. Send never blocks on the network;
// it takes two short locks. A Transport starts one goroutine to accept, one
// per inbound connection, and two per peer it has sent to (a writer and a
// watcher that notices the connection ending). Close stops and waits for all
// of them, then closes the Recv channel. When Recv is not drained,
// connections stop reading and TCP flow control pushes back on the senders.
package tcpnet
