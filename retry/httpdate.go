package retry

import (
	"strings"
	"time"
)

// The three date layouts HTTP/1.1 accepts (RFC 9110 section 5.6.7): the
// preferred IMF-fixdate and the two obsolete forms. They are defined here
// because this package must not import net/http.
const (
	imfFixdate  = "Mon, 02 Jan 2006 15:04:05 GMT"
	rfc850Date  = "Monday, 02-Jan-06 15:04:05 GMT"
	asctimeDate = "Mon Jan _2 15:04:05 2006"
)

// ParseRetryAfter parses the value of an HTTP Retry-After header, either
// delta-seconds ("120") or an HTTP-date ("Fri, 27 Nov 2026 18:00:00 GMT"),
// and returns how long to wait from now. A date in the past gives 0. It
// reports false if the value is neither form. Very large delta-seconds
// saturate instead of overflowing; Do clamps the result by MaxDelay anyway.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		const maxSeconds = int64(1<<63-1) / int64(time.Second)
		var secs int64
		for i := 0; i < len(v); i++ {
			secs = secs*10 + int64(v[i]-'0')
			if secs > maxSeconds {
				return time.Duration(maxSeconds) * time.Second, true
			}
		}
		return time.Duration(secs) * time.Second, true
	}
	for _, layout := range [...]string{imfFixdate, rfc850Date, asctimeDate} {
		if t, err := time.Parse(layout, v); err == nil {
			d := t.Sub(now)
			if d < 0 {
				d = 0
			}
			return d, true
		}
	}
	return 0, false
}

// HeaderRetryAfter reads the Retry-After field from an HTTP header map (an
// http.Header can be passed directly) and parses it with ParseRetryAfter. It
// tries the canonical key "Retry-After" first, then any case.
func HeaderRetryAfter(h map[string][]string, now time.Time) (time.Duration, bool) {
	vs, ok := h["Retry-After"]
	if !ok {
		for k, v := range h {
			if strings.EqualFold(k, "Retry-After") {
				vs, ok = v, true
				break
			}
		}
	}
	if !ok || len(vs) == 0 {
		return 0, false
	}
	return ParseRetryAfter(vs[0], now)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
