package tcpnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogLimiterOnePerIntervalPerKey(t *testing.T) {
	l := newLogLimiter(time.Second)
	t0 := time.Unix(1_000_000, 0)
	type res struct {
		ok         bool
		suppressed uint64
	}
	allow := func(key string, at time.Duration) res {
		ok, n := l.allow(key, t0.Add(at))
		return res{ok, n}
	}
	require.Equal(t, res{true, 0}, allow("a", 0), "the first event is logged")
	for i := range 5 {
		require.Equal(t, res{false, 0}, allow("a", time.Duration(i)*100*time.Millisecond), "within the interval")
	}
	require.Equal(t, res{true, 0}, allow("b", 500*time.Millisecond), "another kind has its own budget")
	require.Equal(t, res{false, 0}, allow("a", time.Second-time.Nanosecond))
	require.Equal(t, res{true, 6}, allow("a", time.Second), "the next logged event reports the suppressed ones")
	require.Equal(t, res{false, 0}, allow("a", 1500*time.Millisecond))
	require.Equal(t, res{true, 1}, allow("a", time.Hour))
	require.Equal(t, res{true, 0}, allow("a", 2*time.Hour), "nothing suppressed in between")
	require.Equal(t, res{true, 0}, allow("b", time.Hour))
}
