package raft

// This file holds the quorum rules. A configuration has one voter set, or
// two during joint consensus (thesis §4.3): then every decision (election,
// commit, leadership checks, read confirmation) needs a majority of each.

// votes reports whether the member counts in some voter set.
func (p *progress) votes() bool { return p.voter || p.voterOut }

func (p *progress) inSet(out bool) bool {
	if out {
		return p.voterOut
	}
	return p.voter
}

func (c *Core) hasVoters() bool { return c.voters > 0 || c.votersOut > 0 }

// majority returns the largest v such that a majority of one voter set has
// get(p) >= v; for an empty set (no outgoing set) it constrains nothing.
func (c *Core) majority(out bool, get func(*progress) uint64) uint64 {
	s := c.scratch[:0]
	for i := range c.prs {
		if c.prs[i].inSet(out) {
			s = append(s, get(&c.prs[i]))
		}
	}
	if len(s) == 0 {
		return ^uint64(0)
	}
	// Insertion sort, descending: voter sets are tiny.
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] > s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	c.scratch = s
	return s[len(s)/2]
}

// quorumValue is the largest v that a quorum of the configuration (each
// voter set's majority) has reached.
func (c *Core) quorumValue(get func(*progress) uint64) uint64 {
	if !c.hasVoters() {
		return 0
	}
	if c.mutation == mutJointOneMajority {
		return c.majority(false, get)
	}
	return min(c.majority(false, get), c.majority(true, get))
}

// tally combines yes (1), no (-1) and unknown (0) answers: 1 when a quorum
// said yes, -1 when one can no longer be reached, else 0.
func (c *Core) tally(answer func(*progress) int8) int8 {
	in, out := c.tallySet(false, answer), c.tallySet(true, answer)
	if c.mutation == mutJointOneMajority {
		out = 1
	}
	switch {
	case in < 0 || out < 0:
		return -1
	case in > 0 && out > 0:
		return 1
	}
	return 0
}

func (c *Core) tallySet(out bool, answer func(*progress) int8) int8 {
	n, yes, no := 0, 0, 0
	for i := range c.prs {
		if !c.prs[i].inSet(out) {
			continue
		}
		n++
		switch answer(&c.prs[i]) {
		case 1:
			yes++
		case -1:
			no++
		}
	}
	if n == 0 {
		return 1
	}
	q := n/2 + 1
	switch {
	case yes >= q:
		return 1
	case no > n-q:
		return -1
	}
	return 0
}
