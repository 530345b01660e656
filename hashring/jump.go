package hashring

// Jump returns the bucket in [0, buckets) for a 64-bit key, using jump
// consistent hashing (Lamping and Veach, "A Fast, Minimal Memory, Consistent
// Hash Algorithm", 2014). It needs no memory and no setup, and when buckets
// grows from n to n+1 exactly the keys that now map to bucket n move.
// Buckets are numbered, so it suits shards that are only ever appended,
// never removed from the middle. It returns -1 if buckets < 1.
//
// The result equals the paper's reference implementation (and
// dgryski/go-jump) for the same key.
func Jump(key uint64, buckets int) int {
	if buckets < 1 {
		return -1
	}
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		// The paper's 64-bit linear congruential step; its top 31 bits
		// drive the next jump.
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// JumpString returns Jump(Hash(key), buckets).
func JumpString(key string, buckets int) int { return Jump(Hash(key), buckets) }

// JumpBytes returns Jump(HashBytes(key), buckets).
func JumpBytes(key []byte, buckets int) int { return Jump(HashBytes(key), buckets) }
