package detector_test

import (
	"fmt"
	"time"

	"github.com/distkit/distkit/detector"
)

func ExamplePhi() {
	d, err := detector.NewPhi(detector.PhiConfig{}) // Φ = 8, 3 s acceptable pause
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for range 100 { // a heartbeat every second
		now = now.Add(time.Second)
		d.Heartbeat(now)
	}
	for _, silence := range []time.Duration{time.Second, 4 * time.Second, 4600 * time.Millisecond} {
		at := now.Add(silence)
		fmt.Printf("after %v: φ=%.2f suspected=%v\n", silence, d.Suspicion(at), d.Suspected(at))
	}
	// Output:
	// after 1s: φ=0.00 suspected=false
	// after 4s: φ=0.30 suspected=false
	// after 4.6s: φ=9.01 suspected=true
}

func ExampleEventuallyPerfect() {
	d, _ := detector.NewEventuallyPerfect(detector.EventuallyPerfectConfig{Initial: time.Second})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d.Heartbeat(now)
	// The peer is slower than the timeout assumed: each late heartbeat
	// refutes a suspicion and doubles the timeout.
	for range 3 {
		now = now.Add(3 * time.Second)
		d.Heartbeat(now)
		fmt.Println("timeout now", d.Timeout())
	}
	// Output:
	// timeout now 2s
	// timeout now 4s
	// timeout now 4s
}

func ExampleMonitor() {
	m, _ := detector.NewMonitor[string](detector.MonitorConfig{
		New: func() (detector.Detector, error) {
			return detector.NewTimeout(detector.TimeoutConfig{Timeout: 2 * time.Second})
		},
	})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	_ = m.Heartbeat("a", now)
	_ = m.Heartbeat("b", now)
	_ = m.Heartbeat("a", now.Add(2*time.Second))
	fmt.Println(m.Suspects(nil, now.Add(3*time.Second)))
	// Output: [b]
}

func ExamplePhiNormal() {
	// φ for a silence 5.612 standard deviations above the mean: the exact
	// tail gives 8; Akka's logistic approximation would say 9.3.
	fmt.Printf("%.2f\n", detector.PhiNormal(5.612, 0, 1))
	// Output: 8.00
}
