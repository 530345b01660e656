package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// FuzzSessionTable checks that decoding any bytes as a session table never
// panics, and that a table that decodes encodes back to the same bytes.
func FuzzSessionTable(f *testing.F) {
	var t sessionTable
	t.init(8)
	f.Add(t.encode(nil))
	for i := uint64(1); i <= 3; i++ {
		t.begin(i, i*10)
	}
	t.setResult(1, 10, []byte("r"))
	t.setResult(2, 20, "s")
	t.setResult(3, 30, 42)
	f.Add(t.encode(nil))
	f.Add([]byte{1, 5, 6, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		var st sessionTable
		st.init(DefaultMaxSessions)
		if err := st.decode(b); err != nil {
			return
		}
		require.Equal(t, b, st.encode(nil))
	})
}

// TestSessionTableModel checks the session table against a plain map with
// an LRU order, and that encoding and decoding keep it.
func TestSessionTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.IntRange(1, 5).Draw(t, "max")
		var st sessionTable
		st.init(max)
		type entry struct {
			seq    uint64
			result any
		}
		model := map[uint64]entry{}
		var order []uint64 // least recently applied first
		touch := func(c uint64) {
			for i, o := range order {
				if o == c {
					order = append(order[:i], order[i+1:]...)
					break
				}
			}
			order = append(order, c)
		}
		t.Repeat(map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				c := rapid.Uint64Range(1, 8).Draw(t, "client")
				seq := rapid.Uint64Range(1, 6).Draw(t, "seq")
				res := rapid.StringN(0, 3, 3).Draw(t, "result")
				e, ok := model[c]
				dup := st.begin(c, seq)
				require.Equal(t, ok && seq <= e.seq, dup)
				if dup {
					got, err := st.answer(c, seq)
					if seq == e.seq {
						require.NoError(t, err)
						require.Equal(t, e.result, got)
					} else {
						require.ErrorIs(t, err, ErrDuplicateRequest)
					}
					return
				}
				st.setResult(c, seq, res)
				model[c] = entry{seq, res}
				touch(c)
				if len(order) > max {
					delete(model, order[0])
					order = order[1:]
				}
			},
			"roundtrip": func(t *rapid.T) {
				b := st.encode(nil)
				var st2 sessionTable
				st2.init(max)
				require.NoError(t, st2.decode(b))
				require.Equal(t, b, st2.encode(nil))
				st = st2
			},
			"": func(t *rapid.T) {
				require.Len(t, st.m, len(model))
				i := 0
				for s := st.oldest; s != nil; s = s.next {
					require.Equal(t, order[i], s.client)
					require.Equal(t, model[s.client].seq, s.seq)
					i++
				}
				require.Equal(t, len(order), i)
			},
		})
	})
}
