package main

// End-to-end tests of pipectl serve as several processes sharing NATS
// JetStream (the intake queue) and PostgreSQL (everything else): the real
// nats-server and PostgreSQL on this machine, a stream and a schema of the
// test's own, pipectl processes started, killed with SIGKILL and started
// again while the test plays Shopify and the WMS.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipectl/pipectl/internal/natstest"
	"github.com/pipectl/pipectl/internal/pgtest"
)

// clusterNode is one serve process of a cluster test and how to start it
// again.
type clusterNode struct {
	addr string
	args []string
	proc atomic.Pointer[served]
}

func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	n.proc.Store(startServeArgs(t, n.addr, n.args...))
}

// TestClusterLosesNothingWhenNodesAreKilled runs two intake nodes (each
// also a worker) and one worker-only node on one stream and one schema.
// Senders post signed webhooks to either intake, as a load balancer does,
// falling over to the other when one answers nothing or 503. Meanwhile
// one intake node and the worker-only node are each killed with SIGKILL
// and started again. Every acknowledged order reaches the WMS, none that
// was not acknowledged does, and the WMS sees no order twice beyond the
// repeats an at-least-once sink makes after a kill, all under the same
// Idempotency-Key (distributed.md §11.2, T1 and T2 in short).
func TestClusterLosesNothingWhenNodesAreKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts and kills processes")
	}
	stateURL := pgtest.Schema(t, "pipectl_cluster_e2e_", nil)
	stream, _ := natstest.Stream(t)
	wms := newStand(t, nil)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", wms.srv.URL, ""))
	common := []string{"--state", stateURL, "--nats", natstest.URL(), "--nats-stream", stream}
	nodes := []*clusterNode{
		{addr: freeAddr(t), args: append(append([]string{}, common...), "--roles", "intake,worker", pipeline)},
		{addr: freeAddr(t), args: append(append([]string{}, common...), "--roles", "intake,worker,scheduler", pipeline)},
		{addr: freeAddr(t), args: append(append([]string{}, common...), "--roles", "worker", pipeline)},
	}
	for _, n := range nodes {
		n.start(t)
	}
	// The worker-only node refuses webhooks, as a node without the role
	// must.
	if code, err := postOnce("http://"+nodes[2].addr+"/hooks/orders", orderBody(1, "X"), "evt-refused", shopifySign(orderBody(1, "X"))); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("a worker-only node answered a webhook %d (%v), want 503", code, err)
	}
	// cluster status lists the three nodes, up, with their roles.
	out, stderr, code := pipectlCmd(t, "cluster", "status", "--state", stateURL, "--nats", natstest.URL(), "--nats-stream", stream, "--json")
	var st clusterStatus
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("cluster status: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	roles := map[string]bool{}
	for _, n := range st.Nodes {
		if n.Up {
			roles[n.Roles] = true
		}
	}
	if len(st.Nodes) != 3 || !roles["intake,worker"] || !roles["intake,worker,scheduler"] || !roles["worker"] || st.Stream == nil || st.Stream.Stream != stream {
		t.Errorf("cluster status with three nodes up: %s", out)
	}
	intakes := []string{"http://" + nodes[0].addr + "/hooks/orders", "http://" + nodes[1].addr + "/hooks/orders"}

	total := 1500
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		answered atomic.Int64
	)
	jobs := make(chan int)
	var senders sync.WaitGroup
	for range 6 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for id := range jobs {
				body := orderBody(id, "SKU-"+strconv.Itoa(id%13))
				sig := shopifySign(body)
				eventID := "evt-" + strconv.Itoa(id)
				deadline := time.Now().Add(2 * time.Minute)
				for try := rand.IntN(2); ; try++ {
					code, err := postOnce(intakes[try%2], body, eventID, sig)
					if err == nil && code == http.StatusOK {
						mu.Lock()
						acked[keyOf(id)] = true
						mu.Unlock()
						break
					}
					if err == nil && code != http.StatusServiceUnavailable {
						t.Errorf("order %d: answered %d", id, code)
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("order %d never acknowledged: %d %v", id, code, err)
						break
					}
					time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond)
				}
				answered.Add(1)
			}
		}()
	}
	// Kill the first intake node a fifth of the way in and the worker-only
	// node halfway, each while webhooks keep coming, and start them again.
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for _, k := range []struct {
			at   int
			node *clusterNode
		}{{total / 5, nodes[0]}, {total / 2, nodes[2]}} {
			for answered.Load() < int64(k.at) {
				time.Sleep(time.Millisecond)
			}
			k.node.proc.Load().kill()
			time.Sleep(200 * time.Millisecond)
			k.node.start(t)
		}
	}()
	for i := range total {
		jobs <- 7_000_000 + i
	}
	close(jobs)
	senders.Wait()
	<-killed

	mu.Lock()
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	mu.Unlock()
	// A killed worker's deliveries come back once their 30 s lease runs
	// out on the server.
	eventuallyE2E(t, 2*time.Minute, func() string {
		return fmt.Sprintf("%d of %d acknowledged orders never reached the WMS", wms.has(keys), len(keys))
	}, func() bool { return wms.has(keys) == 0 })
	time.Sleep(time.Second)
	got := wms.snapshot()
	repeats := 0
	for k, n := range got {
		repeats += n - 1
		if !acked[k] {
			t.Errorf("the WMS got order %s, which was never acknowledged", k)
		}
	}
	if len(got) != len(acked) {
		t.Errorf("the WMS has %d distinct orders, %d were acknowledged", len(got), len(acked))
	}
	// Once everything ran, the pipeline's consumer has no lag and nothing
	// unacknowledged.
	eventuallyE2E(t, 30*time.Second, func() string { return "the consumer still has deliveries out: " + out }, func() bool {
		out, _, _ = pipectlCmd(t, "cluster", "status", "--state", stateURL, "--nats", natstest.URL(), "--nats-stream", stream, "--json")
		var st clusterStatus
		if json.Unmarshal([]byte(out), &st) != nil {
			return false
		}
		for _, p := range st.Pipelines {
			if p.Pipeline == "orders" && p.Consumer != nil {
				return p.Consumer.Pending == 0 && p.Consumer.AckPending == 0
			}
		}
		return false
	})
	text, _, _ := pipectlCmd(t, "cluster", "status", "--state", stateURL, "--nats", natstest.URL(), "--nats-stream", stream)
	// Five nodes are listed: the three running, up, and the two killed,
	// which had no drain to remove themselves (gone once unseen for 15 s).
	m := regexp.MustCompile(`nodes: (\d+) up, (\d+) gone`).FindStringSubmatch(text)
	nodesOK := false
	if m != nil {
		up, _ := strconv.Atoi(m[1])
		gone, _ := strconv.Atoi(m[2])
		nodesOK = up >= 3 && up+gone == 5
	}
	if !nodesOK || !regexp.MustCompile(`(?m)^  orders\s+0\s+0\s+0\s+0\s+0\s+0`).MatchString(text) {
		t.Errorf("cluster status after the run:\n%s", text)
	}
	for i, n := range nodes {
		log := n.proc.Load().stderr.String()
		if !strings.Contains(log, "queue=jetstream") {
			t.Errorf("node %d did not say it serves on JetStream:\n%s", i, log)
		}
	}
	t.Logf("%d orders acknowledged across 2 intake nodes and 3 workers with 2 SIGKILLs; %d raw repeats at the WMS, each under its order's Idempotency-Key", len(acked), repeats)
}

// TestServeClusterFlagsNeedPostgres: --nats and --roles refuse a state
// that other processes cannot share, and --roles refuses names it does
// not know, each with exit 2 and the reason.
func TestServeClusterFlagsNeedPostgres(t *testing.T) {
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "orders.yaml")
	writeFile(t, pipeline, ordersPipeline("orders", "/hooks/orders", "http://127.0.0.1:1", ""))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats", "nats://127.0.0.1:4222"}, "give --state postgres://"},
		{[]string{"--roles", "worker"}, "give --state postgres://"},
		{[]string{"--roles", "intake,cook", "--state", "postgres://127.0.0.1/x"}, `unknown role "cook"`},
		{[]string{"--roles", "relay", "--state", "postgres://127.0.0.1/x"}, "no outbox"},
	} {
		_, stderr, code := pipectlCmd(t, append(append([]string{"serve", "--listen", freeAddr(t)}, c.args...), pipeline)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}
