package raft_test

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Tracing for replaying a failing seed: DISTKIT_RAFT_NODE_IT_LOG=1 logs
// every node's notable events and, in the linearizability test, every
// node's status each 50 ms of virtual time, to stderr; =2 adds every message
// memnet drops. Times are virtual, since the cluster started.

// itTraceLevel returns the DISTKIT_RAFT_NODE_IT_LOG level, 0 when unset.
func itTraceLevel() int { return itEnvInt("DISTKIT_RAFT_NODE_IT_LOG", 0) }

// itTraceLogger returns a logger to stderr stamped with the virtual time
// since t0.
func itTraceLogger(t0 time.Time) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Duration("vt", time.Since(t0))
			}
			return a
		}}))
}

// traceStatus prints every member's status every 50 ms until stop is
// closed, when tracing is on.
func (c *itCluster) traceStatus(stop <-chan struct{}) {
	if itTraceLevel() == 0 {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		s := fmt.Sprintf("vt=%v status", time.Since(c.t0))
		for _, id := range c.members() {
			n, _ := c.running(id)
			if n == nil {
				s += fmt.Sprintf(" %s:down", id)
				continue
			}
			st := n.Status()
			s += fmt.Sprintf(" %s:%v/t%d/lead=%s/c%d/a%d/last%d", id, st.Role, st.Term, st.Leader, st.Commit, st.Applied, st.LastIndex)
		}
		fmt.Fprintln(os.Stderr, s)
	}
}
