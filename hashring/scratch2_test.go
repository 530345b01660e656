package hashring

import (
	"fmt"
	"testing"
)

func BenchmarkScratchRing(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		r := &Ring{}
		var nodes []Node
		for i := range n {
			nodes = append(nodes, Node{ID: fmt.Sprintf("node-%d", i)})
		}
		r.Set(nodes...)
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprintf("user:%d", i*7919)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Get(keys[i&1023])
				i++
			}
		})
	}
}
