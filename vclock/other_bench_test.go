package vclock

import (
	"fmt"
	"testing"
)

func BenchmarkLamportTick(b *testing.B) {
	var l Lamport
	b.ReportAllocs()
	cpuTimer(b)
	for b.Loop() {
		l.Tick()
	}
}

func BenchmarkLamportTickParallel(b *testing.B) {
	var l Lamport
	b.ReportAllocs()
	cpuTimer(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Tick()
		}
	})
}

func BenchmarkVersionVectorCodec(b *testing.B) {
	x, _ := benchPair(16)
	enc, _ := x.MarshalBinary()
	b.Run("encode/entries=16", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf, _ = x.AppendBinary(buf[:0])
		}
	})
	b.Run("decode/entries=16", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		for b.Loop() {
			var v VersionVector
			if err := v.UnmarshalBinary(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDVVSet measures a key's write path (Update with the context of
// a read that saw every sibling) and anti-entropy (Sync of two replicas that
// each hold one concurrent sibling), with 3 and 16 servers that have all
// taken writes before.
func BenchmarkDVVSet(b *testing.B) {
	for _, servers := range []int{3, 16} {
		ids := benchIDs(servers, 0)
		var base DVVSet[[]byte]
		val := []byte("value")
		for i := range 10 * servers {
			base.Update(base.Context(), ids[i%servers], val)
		}
		b.Run(fmt.Sprintf("Update/servers=%d", servers), func(b *testing.B) {
			s := base.Clone()
			b.ReportAllocs()
			cpuTimer(b)
			for i := 0; b.Loop(); i++ {
				s.Update(s.Context(), ids[i%servers], val)
			}
		})
		x, y := base.Clone(), base.Clone()
		x.Update(base.Context(), ids[0], val)
		y.Update(base.Context(), ids[1], val)
		// Each iteration clones x, so that every Sync does the full
		// join; the clone's allocations are part of the figure.
		b.Run(fmt.Sprintf("CloneSync/servers=%d", servers), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			for b.Loop() {
				z := x.Clone()
				z.Sync(y)
			}
		})
	}
}
