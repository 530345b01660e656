package hashring_test

import (
	"errors"
	"fmt"

	"github.com/distkit/distkit/hashring"
)

func ExampleRing() {
	var r hashring.Ring
	if err := r.Set(hashring.Node{ID: "cache-a"}, hashring.Node{ID: "cache-b"}, hashring.Node{ID: "cache-c"}); err != nil {
		panic(err)
	}
	owner, _ := r.Get("user:42")
	fmt.Println("owner:", owner)
	fmt.Println("replicas:", r.GetN("user:42", 2))

	// Removing another node never moves this key.
	other := "cache-a"
	if owner == other {
		other = "cache-b"
	}
	r.Remove(other)
	again, _ := r.Get("user:42")
	fmt.Println("unchanged:", again == owner)
	// Output:
	// owner: cache-c
	// replicas: [cache-c cache-a]
	// unchanged: true
}

func ExampleBounded() {
	b, err := hashring.NewBounded(hashring.BoundedConfig{MaxLoad: 1})
	if err != nil {
		panic(err)
	}
	if err := b.Set(hashring.Node{ID: "a"}, hashring.Node{ID: "b"}); err != nil {
		panic(err)
	}
	n1, _ := b.Acquire("job-1")
	n2, _ := b.Acquire("job-1") // the same key spills to the other node
	_, err = b.Acquire("job-1")
	fmt.Println(n1 != n2, errors.Is(err, hashring.ErrAllFull))
	_ = b.Release(n1)
	fmt.Println(b.Total())
	// Output:
	// true true
	// 1
}

func ExampleJumpString() {
	fmt.Println(hashring.JumpString("user:42", 16))
	// Output: 12
}

func ExampleRendezvous_GetN() {
	var r hashring.Rendezvous
	_ = r.Set(hashring.Node{ID: "a"}, hashring.Node{ID: "b"}, hashring.Node{ID: "c", Weight: 2})
	fmt.Println(r.GetN("photo-123", 2))
	// Output: [b c]
}

func ExampleMaglev() {
	var m hashring.Maglev
	_ = m.Set(hashring.Node{ID: "backend-1"}, hashring.Node{ID: "backend-2"})
	n, _ := m.Get("flow:10.0.0.1:443")
	fmt.Println(n, m.TableSize())
	// Output: backend-2 65537
}
