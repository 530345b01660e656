// Package importcheck enforces the import rules of distkit's DESIGN.md with a
// test, so a rule is broken in CI, not in review:
//
//   - Leaf packages (vclock, crdt, hashring, balancer, breaker, retry,
//     detector) depend on no package of the net family, directly or
//     transitively, and import no sibling distkit package, except that crdt
//     may import vclock and balancer may import hashring. A leaf's
//     test-support subpackage (crdt/crdttest) may reach net through rapid,
//     since only tests link it. hashring and balancer may not import
//     hash/maphash, whose seed differs per process.
//   - Protocol packages (raft, pbft, gossip) import transport, never a
//     concrete transport (memnet, tcpnet) outside their tests.
//   - Protocol core files, every non-test file of a protocol package except
//     its driver files (named node.go or node_*.go), and every file of
//     internal/sim, import no net or os package, read no clock (time.Now,
//     timers, sleeps) and draw from no global random source (math/rand's
//     package-level functions, crypto/rand).
//
// A package that does not exist yet is skipped, so a rule bites the day the
// package lands. The rules are plain functions, tested on made-up packages
// so that each is known to bite, then run on the module by repo_test.go.
package importcheck
