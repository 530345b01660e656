package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// These tests run real nodes over loopback TCP with real timers, so they
// wait by polling with a deadline (require.Eventually), never by sleeping.

// waitFor bounds every poll: failover takes about one election timeout
// (0.5 to 1 s), everything else less.
const waitFor = 10 * time.Second

// client talks to the nodes' HTTP APIs; each test closes its idle
// connections so that goleak sees no goroutine left behind.
type client struct {
	t  *testing.T
	hc *http.Client
}

func newClient(t *testing.T) *client {
	c := &client{t: t, hc: &http.Client{Transport: &http.Transport{}, Timeout: 15 * time.Second}}
	t.Cleanup(c.hc.CloseIdleConnections)
	return c
}

// do sends a request and returns the status code and body.
func (c *client) do(method, url, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(c.t, err)
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(b)
}

// status returns a node's status; it does not fail the test, so that
// require.Eventually can poll with it.
func (c *client) status(url string) (statusView, error) {
	var v statusView
	resp, err := c.hc.Get(url + "/status")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET %s/status: %s", url, resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// leader polls the running nodes' statuses until one of them is the
// leader and the other running nodes follow it, and returns it.
func (c *client) leader(cl *cluster, running ...raft.NodeID) raft.NodeID {
	c.t.Helper()
	var lead raft.NodeID
	require.Eventually(c.t, func() bool {
		lead = ""
		var leaders []raft.NodeID
		for _, id := range running {
			st, err := c.status(cl.urls[id])
			if err != nil {
				return false
			}
			if st.Role == raft.StateLeader.String() {
				lead = id
			}
			leaders = append(leaders, st.Leader)
		}
		for _, l := range leaders {
			if l != lead {
				return false
			}
		}
		return lead != ""
	}, waitFor, 20*time.Millisecond, "no leader among %v", running)
	return lead
}

func TestClusterSurvivesLeaderCrash(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out syncBuffer
	// Snapshots every 16 entries, and 16 kept behind each: the stopped
	// leader misses more than that, so it catches up from a snapshot.
	cl, err := startCluster(clusterConfig{Nodes: 3, Dir: t.TempDir(), Timeout: 5 * time.Second, Out: &out, SnapshotEntries: 16})
	require.NoError(t, err)
	defer func() { require.NoError(t, cl.close()) }()
	c := newClient(t)
	ids := cl.ids

	// acked holds every write the store acknowledged: each must survive.
	acked := map[string]string{}
	put := func(id raft.NodeID, key, value string) {
		code, body := c.do("PUT", cl.urls[id]+"/keys/"+key, value)
		require.Equal(t, http.StatusNoContent, code, body)
		acked[key] = value
	}

	// Writes on any node, the followers' forwarded to the leader. The
	// first waits for the first election.
	for i := range 9 {
		put(ids[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	old := c.leader(cl, ids...)
	require.Contains(t, out.String(), string(old)+" is the leader")

	// A writer keeps going through the crash on a follower, with keys of
	// its own: what it got acknowledged must survive too.
	var survivors []raft.NodeID
	for _, id := range ids {
		if id != old {
			survivors = append(survivors, id)
		}
	}
	writerDone := make(chan map[string]string)
	stopWriter := make(chan struct{})
	wc := newClient(t)
	go func() {
		got := map[string]string{}
		for i := 0; ; i++ {
			if i == 300 { // enough: wait to be stopped
				<-stopWriter
			}
			select {
			case <-stopWriter:
				writerDone <- got
				return
			default:
			}
			key, value := fmt.Sprintf("w%d", i), fmt.Sprintf("x%d", i)
			req, _ := http.NewRequest("PUT", cl.urls[survivors[0]]+"/keys/"+key, strings.NewReader(value))
			resp, err := wc.hc.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				got[key] = value
			}
		}
	}()

	// Kill the leader: its node and transport close, as in a crash.
	code, body := c.do("POST", cl.urls[old]+"/admin/stop", "")
	require.Equal(t, http.StatusOK, code, body)
	code, _ = c.do("GET", cl.urls[old]+"/keys/k0", "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	st, err := c.status(cl.urls[old])
	require.NoError(t, err)
	require.True(t, st.Stopped)

	// The other two elect a new leader and take writes, overwrites and
	// deletes.
	lead := c.leader(cl, survivors...)
	require.NotEqual(t, old, lead)
	for i := range 40 {
		put(survivors[i%2], fmt.Sprintf("k%d", 10+i), fmt.Sprintf("after%d", i))
	}
	put(survivors[1], "k0", "overwritten")
	code, body = c.do("DELETE", cl.urls[survivors[0]]+"/keys/k1", "")
	require.Equal(t, http.StatusNoContent, code, body)
	delete(acked, "k1")

	// Bring the old leader back from its data directory. It catches up.
	code, body = c.do("POST", cl.urls[old]+"/admin/start", "")
	require.Equal(t, http.StatusOK, code, body)
	close(stopWriter)
	written := <-writerDone
	require.NotEmpty(t, written, "the writer got nothing acknowledged")
	t.Logf("leader %s stopped, %s took over; the writer got %d writes acknowledged", old, lead, len(written))
	for k, v := range written {
		acked[k] = v
	}

	// No acknowledged write is lost: every node, the restarted one
	// included, returns every acknowledged value on a linearizable read,
	// and the deleted key on none.
	for _, id := range ids {
		for k, v := range acked {
			code, body := c.do("GET", cl.urls[id]+"/keys/"+k, "")
			require.Equal(t, http.StatusOK, code, "%s: GET %s: %s", id, k, body)
			require.Equal(t, v, body, "%s: GET %s", id, k)
		}
		code, _ := c.do("GET", cl.urls[id]+"/keys/k1", "")
		require.Equal(t, http.StatusNotFound, code, id)
	}
	// After those reads every copy is up to date, so a stale read of the
	// restarted node sees the latest write as well.
	code, body = c.do("GET", cl.urls[old]+"/keys/k0?stale=true", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "overwritten", body)
	require.Contains(t, out.String(), string(old)+" received", "the restarted node caught up without a snapshot")
}

func TestBadRequests(t *testing.T) {
	defer goleak.VerifyNone(t)
	cl, err := startCluster(clusterConfig{Nodes: 1, Dir: t.TempDir(), Timeout: 5 * time.Second, Out: io.Discard})
	require.NoError(t, err)
	defer func() { require.NoError(t, cl.close()) }()
	c := newClient(t)
	url := cl.urls[cl.ids[0]]

	code, _ := c.do("GET", url+"/keys/missing", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = c.do("GET", url+"/keys/k?stale=maybe", "")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = c.do("PUT", url+"/keys/"+strings.Repeat("k", maxKeyLen+1), "v")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = c.do("PUT", url+"/keys/k", strings.Repeat("v", maxValueLen+1))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	code, _ = c.do("POST", url+"/keys/k", "v")
	require.Equal(t, http.StatusMethodNotAllowed, code)
	code, _ = c.do("POST", url+"/admin/start", "")
	require.Equal(t, http.StatusConflict, code, "already running")

	// A key is one path segment; an escaped slash is part of it.
	code, body := c.do("PUT", url+"/keys/a%2Fb", "slash")
	require.Equal(t, http.StatusNoContent, code, body)
	code, body = c.do("GET", url+"/keys/a%2Fb", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "slash", body)

	code, _ = c.do("POST", url+"/admin/stop", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = c.do("POST", url+"/admin/stop", "")
	require.Equal(t, http.StatusConflict, code, "already stopped")
	code, _ = c.do("PUT", url+"/keys/k", "v")
	require.Equal(t, http.StatusServiceUnavailable, code)
}

// TestRunPrintsHowToUseIt runs the command with no flags, as
// `go run ./examples/kvstore` does, and stops it at once.
func TestRunPrintsHowToUseIt(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, options{Data: t.TempDir()}))
	text := out.String()
	for _, id := range []string{"n1", "n2", "n3"} {
		require.Regexp(t, `(?m)^  `+id+`  http://127\.0\.0\.1:\d+$`, text)
	}
	require.Contains(t, text, "curl -X PUT -d world http://127.0.0.1:")
	require.Contains(t, text, "/admin/stop")
	require.True(t, strings.HasSuffix(text, "stopping\n"), text)
}

// TestNodePerProcessWithMutualTLS runs the one-node-per-process mode three
// times in this process, with certificates made by -make-certs, and checks
// that the nodes form one store.
func TestNodePerProcessWithMutualTLS(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "certs")
	ids := []string{"n1", "n2", "n3"}

	// Raft addresses must be known before the nodes start, as in a real
	// deployment: take free ports from the OS.
	var peers []string
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		peers = append(peers, id+"="+ln.Addr().String())
		require.NoError(t, ln.Close())
	}
	peerFlag := strings.Join(peers, ",")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, options{MakeCerts: true, TLSDir: tlsDir, Peers: peerFlag}))
	require.Contains(t, out.String(), "wrote ca.pem")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outs := make([]*syncBuffer, len(ids))
	errs := make(chan error, len(ids))
	for i, id := range ids {
		outs[i] = &syncBuffer{}
		o := options{ID: id, Peers: peerFlag, HTTP: "127.0.0.1:0", Data: filepath.Join(dir, id), TLSDir: tlsDir}
		go func() { errs <- run(ctx, outs[i], o) }()
	}
	urls := make([]string, len(ids))
	httpLine := regexp.MustCompile(`HTTP (http://127\.0\.0\.1:\d+), raft \S+ \(mutual TLS\)`)
	for i := range ids {
		require.Eventually(t, func() bool {
			m := httpLine.FindStringSubmatch(outs[i].String())
			if m != nil {
				urls[i] = m[1]
			}
			return m != nil
		}, waitFor, 10*time.Millisecond)
	}

	c := newClient(t)
	code, body := c.do("PUT", urls[0]+"/keys/greeting", "hello")
	require.Equal(t, http.StatusNoContent, code, body)
	code, body = c.do("GET", urls[2]+"/keys/greeting", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "hello", body)

	cancel()
	for range ids {
		require.NoError(t, <-errs)
	}
}

func TestParsePeers(t *testing.T) {
	addrs, ids, err := parsePeers("n2=127.0.0.1:2, n1=host:1")
	require.NoError(t, err)
	require.Equal(t, []raft.NodeID{"n1", "n2"}, ids)
	require.Equal(t, "host:1", addrs["n1"])
	for _, bad := range []string{"", "n1", "n1=nohost", "../x=h:1", "n1=h:1,n1=h:2"} {
		_, _, err := parsePeers(bad)
		require.Error(t, err, bad)
	}
	require.ErrorContains(t, run(context.Background(), io.Discard, options{ID: "n4", Peers: "n1=127.0.0.1:1"}), "must include this node")
	require.Error(t, run(context.Background(), io.Discard, options{ID: "n1", Peers: "n1=127.0.0.1:0", TLSDir: t.TempDir()}))
	require.ErrorContains(t, run(context.Background(), io.Discard, options{MakeCerts: true, Peers: "n1=h:1"}), "needs -tls-dir")
	require.ErrorContains(t, run(context.Background(), io.Discard, options{Peers: "n1=h:1"}), "need -id")
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
