package detector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var t0 = time.Unix(1e9, 0)

func TestTimeout(t *testing.T) {
	d, err := NewTimeout(TimeoutConfig{Timeout: 2 * time.Second})
	require.NoError(t, err)
	require.False(t, d.Suspected(t0.Add(time.Hour)), "never heard from: not suspected")
	d.Heartbeat(t0)
	require.False(t, d.Suspected(t0.Add(2*time.Second)))
	require.True(t, d.Suspected(t0.Add(2*time.Second+1)))
	require.InDelta(t, 0.5, d.Suspicion(t0.Add(time.Second)), 1e-12)
	d.Heartbeat(t0.Add(3 * time.Second))
	require.False(t, d.Suspected(t0.Add(4*time.Second)))
	_, err = NewTimeout(TimeoutConfig{Timeout: -1})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestEventuallyPerfectDoublesAfterMistakes(t *testing.T) {
	d, err := NewEventuallyPerfect(EventuallyPerfectConfig{Initial: time.Second, Max: 5 * time.Second})
	require.NoError(t, err)
	now := t0
	d.Heartbeat(now)
	// A peer whose heartbeats come every 3 s is wrongly suspected twice, then
	// never again: the timeout has grown past its period.
	var suspicions int
	for range 20 {
		if d.Suspected(now.Add(2500 * time.Millisecond)) {
			suspicions++
		}
		now = now.Add(3 * time.Second)
		d.Heartbeat(now)
	}
	require.Equal(t, 2, suspicions)
	require.Equal(t, 2, d.Mistakes())
	require.Equal(t, 4*time.Second, d.Timeout())
	// A crashed peer is still suspected for good.
	require.True(t, d.Suspected(now.Add(5*time.Second)))
	_, err = NewEventuallyPerfect(EventuallyPerfectConfig{Initial: 2 * time.Second, Max: time.Second})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// TestTimeoutDetectorsProperties checks, for both timeout detectors under
// arbitrary schedules, that suspicion is never negative, never decreases in
// the silence, and agrees with Suspected.
func TestTimeoutDetectorsProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		to := time.Duration(rapid.Int64Range(1, int64(10*time.Second)).Draw(t, "timeout"))
		a, err := NewTimeout(TimeoutConfig{Timeout: to})
		require.NoError(t, err)
		b, err := NewEventuallyPerfect(EventuallyPerfectConfig{Initial: to})
		require.NoError(t, err)
		now := t0
		for _, d := range []Detector{a, b} {
			d.Heartbeat(now)
		}
		t.Repeat(map[string]func(*rapid.T){
			"heartbeat": func(t *rapid.T) {
				now = now.Add(time.Duration(rapid.Int64Range(0, int64(20*time.Second)).Draw(t, "gap")))
				a.Heartbeat(now)
				b.Heartbeat(now)
			},
			"": func(t *rapid.T) {
				for _, d := range []Detector{a, b} {
					prev := 0.0
					for _, s := range []time.Duration{0, to / 2, to, to + 1, 3 * to, 3*to + time.Second} {
						v := d.Suspicion(now.Add(s))
						require.GreaterOrEqual(t, v, prev)
						require.Equal(t, v > 1, d.Suspected(now.Add(s)))
						prev = v
					}
				}
			},
		})
	})
}

func TestLocalPauseGuard(t *testing.T) {
	mk := map[string]func(guard time.Duration) Detector{
		"timeout": func(g time.Duration) Detector {
			d, _ := NewTimeout(TimeoutConfig{Timeout: 3 * time.Second, LocalPauseGuard: g})
			return d
		},
		"eventually-perfect": func(g time.Duration) Detector {
			d, _ := NewEventuallyPerfect(EventuallyPerfectConfig{Initial: 3 * time.Second, LocalPauseGuard: g})
			return d
		},
		"phi": func(g time.Duration) Detector {
			d, _ := NewPhi(PhiConfig{LocalPauseGuard: g})
			return d
		},
	}
	for name, newD := range mk {
		t.Run(name, func(t *testing.T) {
			for _, guard := range []time.Duration{0, 5 * time.Second} {
				d := newD(guard)
				now := t0
				for range 30 { // heartbeats and queries every second
					now = now.Add(time.Second)
					d.Heartbeat(now)
					d.Suspected(now.Add(500 * time.Millisecond))
				}
				// This process stops for 20 s (a GC pause, a frozen VM); when
				// it resumes, the peer's heartbeats have not been read yet.
				now = now.Add(20 * time.Second)
				got := d.Suspected(now)
				require.Equal(t, guard == 0, got, "guard %v", guard)
				// The peer stays silent after the pause, and the process keeps
				// querying every second: it is suspected again once its own
				// silence is long enough.
				for range 10 {
					now = now.Add(time.Second)
					got = d.Suspected(now)
				}
				require.True(t, got)
			}
		})
	}
}

func TestMonitor(t *testing.T) {
	m, err := NewMonitor[string](MonitorConfig{New: func() (Detector, error) {
		return NewTimeout(TimeoutConfig{Timeout: time.Second})
	}})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, m.Heartbeat(fmt.Sprint("n", i), t0))
	}
	require.NoError(t, m.Heartbeat("n0", t0.Add(2*time.Second)))
	require.Equal(t, 5, m.Len())
	require.False(t, m.Suspected("n0", t0.Add(2500*time.Millisecond)))
	require.True(t, m.Suspected("n1", t0.Add(2500*time.Millisecond)))
	require.False(t, m.Suspected("unknown", t0.Add(time.Hour)))
	_, ok := m.Suspicion("unknown", t0)
	require.False(t, ok)
	require.ElementsMatch(t, []string{"n1", "n2", "n3", "n4"}, m.Suspects(nil, t0.Add(2500*time.Millisecond)))
	m.Remove("n1")
	require.Equal(t, 4, m.Len())

	bad, err := NewMonitor[int](MonitorConfig{New: func() (Detector, error) { return NewPhi(PhiConfig{Threshold: -1}) }})
	require.NoError(t, err)
	require.ErrorIs(t, bad.Heartbeat(1, t0), ErrInvalidConfig)
}

func TestMonitorConcurrent(t *testing.T) {
	m, err := NewMonitor[int](MonitorConfig{})
	require.NoError(t, err)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			now := t0
			for i := range 500 {
				now = now.Add(time.Second)
				require.NoError(t, m.Heartbeat((g+i)%8, now))
				m.Suspected(i%8, now)
				m.Suspects(nil, now)
			}
		}()
	}
	for range 4 {
		<-done
	}
	require.Equal(t, 8, m.Len())
}

func TestMonitorHeartbeatDoesNotAllocate(t *testing.T) {
	m, err := NewMonitor[string](MonitorConfig{})
	require.NoError(t, err)
	now := t0
	require.NoError(t, m.Heartbeat("peer", now))
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Second)
		_ = m.Heartbeat("peer", now)
	})
	require.Zero(t, allocs)
}

func BenchmarkMonitorHeartbeat(b *testing.B) {
	m, _ := NewMonitor[string](MonitorConfig{})
	now := t0
	_ = m.Heartbeat("peer", now)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		_ = m.Heartbeat("peer", now)
	}
}
