package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"
)

func do(t *testing.T, method, url string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, url, resp.Status)
}

func getCart(t *testing.T, url string) view {
	t.Helper()
	resp, err := http.Get(url + "/cart")
	require.NoError(t, err)
	defer resp.Body.Close()
	var v view
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// waitConverged blocks until every instance holds the same state and ok
// accepts it, woken by state changes rather than by polling on a timer.
func waitConverged(t *testing.T, insts []*instance, ok func(view) bool) view {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var first []byte
		var v view
		same := true
		changed := make([]<-chan struct{}, len(insts))
		for i, in := range insts {
			var enc []byte
			v, enc, changed[i] = in.node.snapshot()
			if i == 0 {
				first = enc
			} else if !bytes.Equal(enc, first) {
				same = false
			}
		}
		if same && ok(v) {
			return v
		}
		// Three instances: wait for any of them to change.
		select {
		case <-changed[0]:
		case <-changed[1]:
		case <-changed[2]:
		case <-ctx.Done():
			t.Fatalf("instances did not converge: %+v", v)
		}
	}
}

func TestCartConvergesAcrossCutAndHeal(t *testing.T) {
	defer goleak.VerifyNone(t)
	insts, err := startCluster(context.Background(), 3, 10*time.Millisecond, "test")
	require.NoError(t, err)
	defer func() { require.NoError(t, stopAll(insts)) }()
	a, b, c := insts[0], insts[1], insts[2]

	// Every instance takes writes at the same time.
	var g errgroup.Group
	for _, in := range insts {
		g.Go(func() error {
			for range 10 {
				req, _ := http.NewRequest("POST", in.url+"/cart/items/apple?n=1", nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
			}
			req, _ := http.NewRequest("POST", in.url+"/cart/tags/from-"+string(in.node.id), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			return resp.Body.Close()
		})
	}
	require.NoError(t, g.Wait())
	v := waitConverged(t, insts, func(v view) bool { return v.Items["apple"] == 30 && len(v.Tags) == 3 })
	require.ElementsMatch(t, []string{"from-a", "from-b", "from-c"}, v.Tags)

	// Cut the a–b link both ways. Writes at a and b still reach each
	// other through c, which forwards what is news to it.
	a.node.setCut(b.node.id, true)
	b.node.setCut(a.node.id, true)
	do(t, "POST", a.url+"/cart/items/pear?n=4")
	do(t, "DELETE", b.url+"/cart/items/apple")
	do(t, "POST", b.url+"/cart/tags/urgent")
	waitConverged(t, insts, func(v view) bool {
		_, apple := v.Items["apple"]
		return !apple && v.Items["pear"] == 4 && len(v.Tags) == 4
	})

	// Now isolate c as well, write on both sides, heal, and converge.
	for _, x := range insts {
		for _, y := range insts {
			if x != y {
				x.node.setCut(y.node.id, true)
			}
		}
	}
	do(t, "POST", a.url+"/cart/items/apple?n=2") // re-added after the remove: starts from zero
	do(t, "POST", c.url+"/cart/items/pear?n=-1")
	do(t, "DELETE", c.url+"/cart/tags/from-a")
	for _, x := range insts {
		for _, y := range insts {
			if x != y {
				x.node.setCut(y.node.id, false)
			}
		}
	}
	v = waitConverged(t, insts, func(v view) bool {
		return v.Items["apple"] == 2 && v.Items["pear"] == 3 && len(v.Tags) == 3
	})
	require.ElementsMatch(t, []string{"from-b", "from-c", "urgent"}, v.Tags)
	require.Equal(t, v.Items, getCart(t, c.url).Items)
}

func TestRunPrintsCurlCommands(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // run starts, prints, and stops at once
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, options{Instances: 3, Interval: time.Second, Cluster: "test"}))
	text := out.String()
	for _, id := range []string{"a", "b", "c"} {
		require.Contains(t, text, fmt.Sprintf("instance %s: http://127.0.0.1:", id))
	}
	require.Contains(t, text, "curl -X POST http://127.0.0.1:")
	require.Equal(t, 7, strings.Count(text, "\n"))
}

func TestBadMessagesAreIgnored(t *testing.T) {
	_, _, _, err := decodeMsg([]byte{9, 1})
	require.Error(t, err)
	var c cart
	require.Error(t, c.UnmarshalBinary([]byte{0xff}))
}
