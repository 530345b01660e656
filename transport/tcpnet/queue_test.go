package tcpnet

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/distkit/distkit/transport"
)

// TestQueueModel checks a peer's queue against a plain slice: under either
// policy, enqueue and take behave like the obvious bounded FIFO.
func TestQueueModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(1, 8).Draw(t, "size")
		policy := QueuePolicy(rapid.IntRange(0, 1).Draw(t, "policy"))
		tr := &Transport{cfg: Config{SendQueueSize: size, QueuePolicy: policy}, ctx: context.Background()}
		p := newPeer(tr, "b", "addr")
		p.started = true // no writer goroutine: the test takes batches itself
		var model [][]byte
		var dropped, rejected uint64
		next := 0
		t.Repeat(map[string]func(*rapid.T){
			"send": func(t *rapid.T) {
				msg := fmt.Appendf(nil, "m%d", next)
				next++
				err := p.enqueue(msg)
				if len(model) == size {
					if policy == Reject {
						require.True(t, errors.Is(err, transport.ErrQueueFull))
						rejected++
						return
					}
					model = model[1:]
					dropped++
				}
				require.NoError(t, err)
				model = append(model, msg)
			},
			"take": func(t *rapid.T) {
				got, current := p.take(nil, "addr")
				require.True(t, current)
				if len(model) == 0 {
					require.Empty(t, got)
				} else {
					require.Equal(t, model, got)
				}
				model = nil
			},
			"": func(t *rapid.T) {
				st := p.status()
				require.Equal(t, len(model), st.Queued)
				require.Equal(t, dropped, st.Dropped)
				require.Equal(t, rejected, st.Rejected)
			},
		})
	})
}

func TestQueuePolicyString(t *testing.T) {
	require.Equal(t, "drop-oldest", DropOldest.String())
	require.Equal(t, "reject", Reject.String())
	require.Equal(t, "QueuePolicy(7)", QueuePolicy(7).String())
}
