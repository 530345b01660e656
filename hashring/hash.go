package hashring

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Seed is the xxhash64 seed every placement in this package uses. It is fixed,
// unlike hash/maphash, whose seed changes per process: two processes, or two
// releases, must agree on where a key lives. Seed 0 is the canonical XXH64
// seed, so any other XXH64 implementation (C, Rust, Java, the xxhsum tool)
// computes the same key hashes and can reproduce a placement.
const Seed uint64 = 0

// Hash returns the 64-bit placement hash of key: XXH64(key, Seed). Ring,
// Bounded, Rendezvous, Maglev and JumpString all start from this value, so a
// caller that already holds it can use the ...Hash lookup variants.
func Hash(key string) uint64 { return xxhash.Sum64String(key) }

// HashBytes is Hash for a []byte key; HashBytes([]byte(s)) == Hash(s).
func HashBytes(key []byte) uint64 { return xxhash.Sum64(key) }

// mix64 is the splitmix64 finalizer: a bijection on uint64 whose output bits
// each depend on every input bit. It derives virtual-node positions and
// rendezvous scores from one xxhash per key or node instead of hashing again.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// golden is 2^64 divided by the golden ratio, the splitmix64 increment: adding
// it to a counter walks the whole uint64 space with well-spread steps.
const golden = 0x9e3779b97f4a7c15

// reduce maps a uniform uint64 onto [0, n) without a division (Lemire's
// multiply-high reduction).
func reduce(h uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(h, n)
	return hi
}
