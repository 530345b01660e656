package retry

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestCallCtxRaces runs Do calls whose fn hands its context to goroutines
// that ask for Done at generated moments (before, during or after Do
// returns) while the parent may be cancelled at a generated moment. Whatever
// the interleaving, every goroutine must see Done close and a non-nil Err
// (synctest fails the test if any of them blocks forever), and Err must be
// the parent's error exactly when the parent ended first.
func TestCallCtxRaces(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		watchers := rapid.IntRange(1, 4).Draw(rt, "watchers")
		var waits []time.Duration
		for range watchers {
			waits = append(waits, time.Duration(rapid.IntRange(0, 3).Draw(rt, "watcherWaitMs"))*time.Millisecond)
		}
		fnTime := time.Duration(rapid.IntRange(0, 3).Draw(rt, "fnMs")) * time.Millisecond
		cancelAt := time.Duration(rapid.IntRange(0, 4).Draw(rt, "cancelMs")) * time.Millisecond
		synctest.Test(t, func(t *testing.T) {
			parent, cancel := context.WithCancel(t.Context())
			defer cancel()
			var wg sync.WaitGroup
			wg.Go(func() {
				time.Sleep(cancelAt)
				cancel()
			})
			var inner context.Context
			_ = Do(parent, func(ctx context.Context) error {
				inner = ctx
				for _, w := range waits {
					wg.Go(func() {
						time.Sleep(w)
						<-ctx.Done()
						require.Error(t, ctx.Err())
					})
				}
				time.Sleep(fnTime)
				return nil
			})
			wg.Wait()
			<-inner.Done()
			if fnTime < cancelAt {
				require.ErrorIs(t, inner.Err(), context.Canceled) // ended by Do
			}
			require.Error(t, inner.Err())
		})
	})
}

// TestCallCtxDerivedContexts checks that contexts derived from fn's context
// by the standard library follow it when Do returns.
func TestCallCtxDerivedContexts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var child context.Context
		var stopChild context.CancelFunc
		require.NoError(t, Do(t.Context(), func(ctx context.Context) error {
			child, stopChild = context.WithTimeout(ctx, time.Hour)
			return nil
		}))
		defer stopChild()
		<-child.Done()
		require.ErrorIs(t, child.Err(), context.Canceled)
	})
}

// TestCallCtxLayout pins the sizes the cost figures rest on: a 24-byte slot
// and a slab that fits the 2048-byte size class.
func TestCallCtxLayout(t *testing.T) {
	require.Equal(t, uintptr(24), unsafe.Sizeof(callCtx{}))
	require.LessOrEqual(t, unsafe.Sizeof(ctxSlab{}), uintptr(2048))
	require.Greater(t, unsafe.Sizeof(ctxSlab{})+unsafe.Sizeof(callCtx{}), uintptr(2048))
	// ext finds each slot's slab from the slot alone.
	s := new(ctxSlab)
	for i := range s.ctxs {
		s.ctxs[i].index = uint32(i)
		cell := s.ctxs[i].ext() // the first call allocates the table
		require.Same(t, &s.exts.Load()[i], cell)
	}
}
