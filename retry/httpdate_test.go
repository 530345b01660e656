package retry

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"99999999999999999999999", time.Duration(int64(1<<63-1)/int64(time.Second)) * time.Second, true},
		{"Fri, 27 Nov 2026 18:00:30 GMT", 30 * time.Second, true},
		{"Friday, 27-Nov-26 18:01:00 GMT", time.Minute, true},
		{"Fri Nov 27 18:00:05 2026", 5 * time.Second, true},
		{"Fri, 27 Nov 2026 17:00:00 GMT", 0, true}, // in the past
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"tomorrow", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	// The local layout is net/http's TimeFormat, which this leaf package
	// may not import.
	require.Equal(t, "Mon, 02 Jan 2006 15:04:05 GMT", imfFixdate)
}

func TestHeaderRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	type header map[string][]string // the shape of http.Header
	h := header{}
	_, ok := HeaderRetryAfter(h, now)
	require.False(t, ok)
	h["Retry-After"] = []string{"7"}
	d, ok := HeaderRetryAfter(h, now)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)
	d, ok = HeaderRetryAfter(map[string][]string{"retry-after": {"3"}}, now)
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)
}
