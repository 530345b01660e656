// Package detector tells when a peer has failed from the heartbeats it
// sends: a fixed-timeout detector, an eventually perfect detector whose
// timeout grows after each wrong suspicion, and phi accrual detectors with a
// normal (Hayashibara, Akka) or exponential (Cassandra) model of heartbeat
// intervals, plus a Monitor that tracks many peers.
//
// # Usage
//
// One Detector watches one peer. Feed it the time each heartbeat arrives and
// ask it, as often as you like, how suspicious the silence is:
//
//	d, err := detector.NewPhi(detector.PhiConfig{}) // Akka's defaults: Φ = 8
//	...
//	d.Heartbeat(time.Now())        // on every heartbeat from the peer
//	if d.Suspected(time.Now()) {   // periodically
//		...
//	}
//
// A Monitor keys detectors by peer (NodeID, address, ...) and creates one on
// a peer's first heartbeat:
//
//	m, _ := detector.NewMonitor[string](detector.MonitorConfig{})
//	m.Heartbeat("node-a", now)
//	suspects := m.Suspects(nil, now)
//
// Every method takes the current time from the caller; the package never
// reads a clock, so it runs unchanged in virtual time (testing/synctest, a
// simulator). Times given to one detector must not go backwards. A peer
// never heard from is not suspected.
//
// # Phi
//
// φ(Δ) = −log₁₀ P(an interval is longer than Δ), where Δ is the silence
// since the last heartbeat and P comes from the distribution fitted to the
// last MaxSamples intervals (a ring buffer with running sums: O(1) and no
// allocation per heartbeat). φ = 1 means a 10% chance that suspecting now is
// a mistake, 2 means 1%, 3 means 0.1%, if the model fits. The normal tail is
// computed exactly with math.Erfc, switching to an asymptotic series only
// where erfc underflows; it matches a 400-bit reference to 1e-3 for φ ≤ 30.
// Akka's logistic approximation, by contrast, reports 8 where the true value
// is 7.06. φ is never negative, never NaN or infinite (even with one sample
// or zero variance), and never decreases as the silence grows.
//
// Options: MinStdDev floors the standard deviation so perfectly regular
// heartbeats do not make the detector hair-triggered; AcceptablePause is
// added to the mean; MaxInterval drops intervals longer than it (Cassandra's
// defence against a partition inflating the mean); LocalPauseGuard excludes
// pauses of this process (GC, a frozen VM) longer than it from the peer's
// silence, provided the detector is called more often than the guard.
//
// # Accuracy: measured, not promised
//
// In an asynchronous system no detector is both complete and accurate. The
// honest guarantees are:
//
//   - Completeness: a crashed peer is suspected for good once its silence
//     reaches the threshold, by every detector here.
//   - EventuallyPerfect is ◇P (eventually no mistakes) only under partial
//     synchrony: if delays are eventually bounded by some D, its doubling
//     timeout eventually exceeds D.
//   - Phi is probabilistic. With heartbeats drawn from its model, the rate
//     of mistakes at Φ = 1, 2, 3, 4 was measured at 1.01, 1.01, 1.00, 1.09
//     times 10^−Φ (normal) and 1.00, 1.02, 1.06, 1.16 times 10^−Φ
//     (exponential), over 10⁶ intervals (TestCalibration).
//   - Under a partition, each side suspects the other by design.
//
// Quality of service (TestQoS, run with go test -run TestQoS -v ./detector):
// heartbeats every 1 s, delivery jitter N(0, 50 ms), independent loss, 240
// link-hours of virtual time, 1970 crashes placed right after a heartbeat
// is sent. T_D is the time from the last heartbeat received to suspicion;
// from the crash itself add that heartbeat's delay (worst seen: +150 ms at
// 0% loss). The configuration measured is Akka's defaults (acceptable pause
// 3 s, σ ≥ 100 ms) with MaxSamples = 10,000, one configuration for both
// loss rates; the threshold is the row's Φ:
//
//	loss  Φ   mean T_D  max T_D  mistakes per link-hour
//	0%    1   4.13 s    4.13 s   0
//	0%    8   4.56 s    4.56 s   0
//	0%    12  4.70 s    4.70 s   0
//	10%   1   4.57 s    4.62 s   0.42
//	10%   4   5.45 s    5.56 s   0.050
//	10%   8   6.13 s    6.29 s   0.008
//	10%   12  6.64 s    6.85 s   0.008
//
// So at Φ = 8 with 10,000 samples: no mistakes in 240 hours and a worst T_D
// of 4.56 s without loss; at 10% loss a worst T_D of 6.29 s (6.24–6.31 s
// over three seeds) and 0.008 mistakes per link-hour. The default window of
// 1,000 samples (Akka's) gives the same figures without loss, but at 10%
// loss a worst T_D of 6.56 s for a mean of 6.13 s (0.017 mistakes per
// link-hour): lossy gaps are a heavy-tailed mix of 1 s, 2 s, 3 s...
// intervals, and σ estimated from 1,000 of them swings; 10,000 steady it
// at 80 KB per detector. These figures assume independent losses and
// Gaussian jitter; bursty loss or long pauses of the peer make mistakes
// more frequent, and each monitor of a peer makes its own.
//
// # Concurrency
//
// Every detector and the Monitor are safe for concurrent use. Each detector
// has its own mutex; a Monitor heartbeat for a known peer takes a read lock
// on the peer map and does not allocate. The Monitor calls its detectors'
// methods with its read lock held, so a custom Detector must not call back
// into the Monitor.
package detector
