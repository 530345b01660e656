package tcpnet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/distkit/distkit/transport"
)

func TestHelloRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := hello{
			From:    transport.NodeID(rapid.SliceOfN(rapid.Byte(), 1, MaxIDLen).Draw(t, "from")),
			To:      transport.NodeID(rapid.SliceOfN(rapid.Byte(), 0, MaxIDLen).Draw(t, "to")),
			Cluster: string(rapid.SliceOfN(rapid.Byte(), 0, MaxIDLen).Draw(t, "cluster")),
		}
		b := appendHello(nil, h)
		// Equal values encode to equal bytes.
		require.Equal(t, b, appendHello(nil, h))
		got, err := readHello(bytes.NewReader(b))
		require.NoError(t, err)
		require.Equal(t, h, got)
		// Every strict prefix is corrupt, never a panic or a short success.
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		_, err = readHello(bytes.NewReader(b[:cut]))
		require.ErrorIs(t, err, transport.ErrCorrupt)
	})
}

func TestAckRoundTrip(t *testing.T) {
	for s := statusOK; s <= statusIdentity; s++ {
		got, err := readAck(bytes.NewReader(appendAck(nil, s)))
		require.NoError(t, err)
		require.Equal(t, s, got)
		require.NotContains(t, s.String(), "unknown")
	}
	_, err := readAck(bytes.NewReader([]byte{9, 0}))
	require.ErrorIs(t, err, transport.ErrCorrupt)
	_, err = readAck(bytes.NewReader([]byte{wireVersion}))
	require.ErrorIs(t, err, transport.ErrCorrupt)
}

func FuzzReadHello(f *testing.F) {
	f.Add(appendHello(nil, hello{From: "a", To: "b", Cluster: "prod"}))
	f.Add([]byte{wireVersion, 0, 0, 0})
	f.Add([]byte{wireVersion, 255})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readHello(bytes.NewReader(b))
		if err != nil {
			require.ErrorIs(t, err, transport.ErrCorrupt)
			return
		}
		// A hello that decodes re-encodes to the bytes it came from.
		enc := appendHello(nil, h)
		require.Equal(t, b[:len(enc)], enc)
	})
}

// decodeFrames reads frames from b the way an inbound connection does, without
// the deadlines.
func decodeFrames(b []byte, maxSize int) ([][]byte, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	var out [][]byte
	var hdr [frameHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, &truncatedError{where: "mid-frame header"}
		}
		n, err := frameLen(hdr[:], maxSize)
		if err != nil {
			return out, err
		}
		p, err := readPayload(br, n)
		if err != nil {
			return out, &truncatedError{where: "mid-frame payload"}
		}
		out = append(out, p)
	}
}

func encodeFrames(payloads [][]byte) []byte {
	var b []byte
	var hdr [frameHeaderLen]byte
	for _, p := range payloads {
		putFrameHeader(hdr[:], len(p))
		b = append(append(b, hdr[:]...), p...)
	}
	return b
}

func TestFramesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		payloads := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 3*readChunk), 0, 5).Draw(t, "payloads")
		b := encodeFrames(payloads)
		got, err := decodeFrames(b, 3*readChunk)
		require.NoError(t, err)
		require.Equal(t, len(payloads), len(got))
		for i := range payloads {
			require.Equal(t, len(payloads[i]), len(got[i]))
			require.True(t, bytes.Equal(payloads[i], got[i]))
		}
	})
}

func FuzzFrames(f *testing.F) {
	f.Add(encodeFrames([][]byte{[]byte("hello"), {}, []byte("world")}), 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 1<<20)
	f.Add([]byte{0, 1, 0, 0, 1, 2, 3}, 1<<20)
	f.Fuzz(func(t *testing.T, b []byte, maxSize int) {
		maxSize = max(0, maxSize%(4<<20))
		frames, err := decodeFrames(b, maxSize)
		if err != nil {
			require.ErrorIs(t, err, transport.ErrCorrupt)
		}
		total := 0
		for _, p := range frames {
			require.LessOrEqual(t, len(p), maxSize)
			total += frameHeaderLen + len(p)
		}
		// Whatever decoded is exactly a prefix of the input.
		require.True(t, bytes.Equal(b[:total], encodeFrames(frames)))
		if err == nil {
			require.Equal(t, len(b), total)
		}
	})
}

func TestReadPayloadAllocatesByArrival(t *testing.T) {
	// A 16 MiB frame that delivers only 10 bytes before failing must not
	// have cost 16 MiB.
	allocs := testing.AllocsPerRun(1, func() {
		_, _ = readPayload(bytes.NewReader(make([]byte, 10)), transport.DefaultMaxPayload)
	})
	require.LessOrEqual(t, allocs, 3.0) // the reader, its input, one chunk
	var ms [2]uint64
	b := bytes.NewReader(make([]byte, 10))
	ms[0] = bytesAllocated()
	_, err := readPayload(b, transport.DefaultMaxPayload)
	ms[1] = bytesAllocated()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, ms[1]-ms[0], uint64(4*readChunk))
}

func TestGrowCapNeverOverflows(t *testing.T) {
	// Plain doubling is the normal case.
	require.Equal(t, 2*readChunk, growCap(readChunk, 1<<30))
	require.Equal(t, 100_000, growCap(readChunk, 100_000))
	// Near the top of int, 2*cur wraps negative; the helper must instead
	// stop at n. maxFrameLimit is the largest n a 32-bit platform allows;
	// math.MaxInt is the largest n of all.
	for _, n := range []int{maxFrameLimit, math.MaxInt} {
		for _, cur := range []int{n/2 + 1, n - 1, n / 2, n/2 - 1} {
			got := growCap(cur, n)
			require.Greater(t, got, cur, "cur=%d n=%d", cur, n)
			require.LessOrEqual(t, got, n, "cur=%d n=%d", cur, n)
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, math.MaxInt).Draw(rt, "n")
		cur := rapid.IntRange(1, n-1).Draw(rt, "cur")
		got := growCap(cur, n)
		if got <= cur || got > n {
			rt.Fatalf("growCap(%d, %d) = %d", cur, n, got)
		}
		if cur <= n/2 && got != 2*cur {
			rt.Fatalf("growCap(%d, %d) = %d, want doubling", cur, n, got)
		}
	})
}

func FuzzReadAck(f *testing.F) {
	f.Add(appendAck(nil, statusOK))
	f.Add(appendAck(nil, statusIdentity))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readAck(bytes.NewReader(b))
		if err != nil {
			require.ErrorIs(t, err, transport.ErrCorrupt)
			return
		}
		require.Equal(t, b[:2], appendAck(nil, s))
		require.NotEmpty(t, s.String())
	})
}
