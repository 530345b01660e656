package balancer_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/distkit/distkit/balancer"
)

func ExampleBalancer() {
	b, err := balancer.New(balancer.Config{
		Policy:    balancer.WeightedRoundRobin,
		Endpoints: []balancer.Endpoint{{Name: "big", Weight: 3}, {Name: "small", Weight: 1}},
	})
	if err != nil {
		panic(err)
	}
	var picks []string
	for range 8 {
		p, err := b.Pick("")
		if err != nil {
			panic(err)
		}
		picks = append(picks, p.Endpoint)
		b.Done(p, time.Millisecond, nil)
	}
	fmt.Println(picks)

	_ = b.SetHealthy("big", false)
	_ = b.SetHealthy("small", false)
	_, err = b.Pick("")
	fmt.Println(errors.Is(err, balancer.ErrAllDown), err)
	// Output:
	// [big big small big big big small big]
	// true balancer: all endpoints down
}

func ExampleBalancer_consistentHash() {
	b, err := balancer.New(balancer.Config{
		Policy:    balancer.ConsistentHash,
		Endpoints: []balancer.Endpoint{{Name: "cache-1"}, {Name: "cache-2"}, {Name: "cache-3"}},
	})
	if err != nil {
		panic(err)
	}
	first, _ := b.Pick("user:42")
	b.Done(first, time.Millisecond, nil)
	again, _ := b.Pick("user:42")
	b.Done(again, time.Millisecond, nil)
	fmt.Println(first.Endpoint == again.Endpoint)
	// Output: true
}

// A request that is never sent, here because the caller's circuit breaker for
// the picked endpoint refuses it, is released with Cancel: its in-flight slot
// is freed and no latency is recorded, so the endpoint does not look slow.
func ExampleBalancer_Cancel() {
	b, err := balancer.New(balancer.Config{
		Policy:    balancer.PowerOfTwoChoices,
		Endpoints: []balancer.Endpoint{{Name: "a"}},
	})
	if err != nil {
		panic(err)
	}
	p, _ := b.Pick("")
	b.Done(p, 2*time.Millisecond, nil)

	p, _ = b.Pick("")
	breakerOpen := true
	if breakerOpen {
		b.Cancel(p)
	}
	st := b.Status()[0]
	fmt.Println(st.Outstanding, st.Latency)
	// Output: 0 2ms
}
