// Command serverate measures `pipectl serve` end to end at a fixed rate:
// it signs and sends Shopify order webhooks open-loop (one every 1/rate,
// whether or not earlier ones were answered, as storefronts do), plays
// the WMS and the storefront the pipeline delivers to, and reports, per
// order, the time from its webhook's acknowledgement to the first request
// that reached a stand-in for it (a pick ticket or a backorder). It
// samples the queue depth from pipectl's /metrics meanwhile.
//
//	serverate -url http://127.0.0.1:18192/hooks/shopify/orders-create \
//	  -in orders.ndjson -rate 1000 -for 60s -secret S \
//	  -listen 127.0.0.1:18191 -metrics http://127.0.0.1:18192/metrics
//
// With -c N -n COUNT it sends closed-loop instead: N senders, each waiting
// for its answer, as fast as they are answered; e2e_per_s is then the
// throughput end to end (bench/cluster.sh).
//
// It prints one line of key=value figures; bench/serve.sh runs it.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

func main() {
	url := flag.String("url", "", "webhook URL; several, comma-separated, take turns (intake nodes behind a load balancer)")
	in := flag.String("in", "", "NDJSON orders, one webhook body a line (ids unique)")
	rate := flag.Int("rate", 1000, "webhooks per second")
	dur := flag.Duration("for", 60*time.Second, "how long to send")
	secret := flag.String("secret", "", "signing secret")
	listen := flag.String("listen", "127.0.0.1:18191", "where the WMS and storefront stand-in listens")
	metrics := flag.String("metrics", "", "pipectl's /metrics, sampled for pipectl_queue_depth")
	settle := flag.Duration("settle", 60*time.Second, "how long to wait for the last orders to arrive")
	conc := flag.Int("c", 0, "closed loop instead: send -n webhooks from this many senders, each waiting for its answer, as fast as they are answered")
	count := flag.Int("n", 0, "webhooks to send in the closed loop (-c)")
	flag.Parse()
	if *url == "" || *in == "" {
		fmt.Fprintln(os.Stderr, "serverate: -url and -in are required")
		os.Exit(2)
	}
	urls := strings.Split(*url, ",")
	want := *rate * int(dur.Seconds())
	if *conc > 0 {
		want = *count
	}
	bodies, err := readBodies(*in, want)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serverate:", err)
		os.Exit(1)
	}

	st := newStandIn()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serverate:", err)
		os.Exit(1)
	}
	go http.Serve(ln, st)

	var maxDepth atomic.Int64
	stopSampling := make(chan struct{})
	if *metrics != "" {
		go sampleDepth(*metrics, &maxDepth, stopSampling)
	}

	acks := make([]time.Time, len(bodies)) // zero: not acknowledged
	ackLatency := make([]time.Duration, len(bodies))
	var failed atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(*rate)
	send := func(i int, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, urls[i%len(urls)], bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Hmac-Sha256", sign(*secret, body))
		req.Header.Set("X-Shopify-Topic", "orders/create")
		req.Header.Set("X-Shopify-Shop-Domain", "bench.myshopify.com")
		req.Header.Set("X-Shopify-Event-Id", "rate-"+strconv.Itoa(i))
		req.Header.Set("X-Shopify-Webhook-Id", "rate-"+strconv.Itoa(i))
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			failed.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			failed.Add(1)
			return
		}
		acks[i] = time.Now()
		ackLatency[i] = acks[i].Sub(t)
	}
	if *conc > 0 {
		next := make(chan int)
		for range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					send(i, bodies[i])
				}
			}()
		}
		for i := range bodies {
			next <- i
		}
		close(next)
	} else {
		for i, b := range bodies {
			// Open loop: request i goes at start + i*interval.
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				send(i, b)
			}()
		}
	}
	wg.Wait()
	sent := time.Since(start)

	// Wait until every acknowledged order that will reach a stand-in has:
	// the arrivals stop growing for two seconds, or settle runs out.
	deadline := time.Now().Add(*settle)
	last, quiet := -1, time.Now()
	for time.Now().Before(deadline) {
		n := st.count()
		if n != last {
			last, quiet = n, time.Now()
		} else if time.Since(quiet) > 2*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopSampling)

	ids := make([]string, len(bodies))
	for i, b := range bodies {
		ids[i] = gjson.GetBytes(b, "id").String()
	}
	var acked int
	var acksOnly, endToEnd []time.Duration
	var lastArrival time.Time
	for i := range bodies {
		if acks[i].IsZero() {
			continue
		}
		acked++
		acksOnly = append(acksOnly, ackLatency[i])
		if at, ok := st.first(ids[i]); ok {
			endToEnd = append(endToEnd, max(0, at.Sub(acks[i])))
			if at.After(lastArrival) {
				lastArrival = at
			}
		}
	}
	// End to end per second: the orders that reached a stand-in over the
	// time from the first webhook sent to the last arrival.
	var e2ePerS float64
	if !lastArrival.IsZero() {
		e2ePerS = float64(len(endToEnd)) / lastArrival.Sub(start).Seconds()
	}
	fmt.Printf("rate=%d seconds=%.1f sent=%d acked=%d failed=%d achieved_per_s=%.0f ack_p50_ms=%.2f ack_p99_ms=%.2f "+
		"reached=%d e2e_per_s=%.0f e2e_p50_ms=%.1f e2e_p99_ms=%.1f e2e_max_ms=%.1f max_queue_depth=%d standin_requests=%d\n",
		*rate, sent.Seconds(), len(bodies), acked, failed.Load(), float64(len(bodies))/sent.Seconds(),
		ms(pct(acksOnly, 0.50)), ms(pct(acksOnly, 0.99)),
		len(endToEnd), e2ePerS, ms(pct(endToEnd, 0.50)), ms(pct(endToEnd, 0.99)), ms(pct(endToEnd, 1)),
		maxDepth.Load(), st.requests.Load())
}

// standIn answers every request 201, like a WMS, and remembers when the
// first request naming each order (the body's order_id) arrived.
type standIn struct {
	mu       sync.Mutex
	firstAt  map[string]time.Time
	requests atomic.Int64
}

func newStandIn() *standIn { return &standIn{firstAt: map[string]time.Time{}} }

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	s.requests.Add(1)
	if id := gjson.GetBytes(body, "order_id").String(); id != "" {
		s.mu.Lock()
		if _, ok := s.firstAt[id]; !ok {
			s.firstAt[id] = now
		}
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *standIn) first(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.firstAt[id]
	return t, ok
}

func (s *standIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.firstAt)
}

// sampleDepth reads the summed pipectl_queue_depth every 250 ms and keeps
// the largest.
func sampleDepth(url string, maxDepth *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		var depth float64
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "pipectl_queue_depth") {
				if f := strings.Fields(line); len(f) == 2 {
					v, _ := strconv.ParseFloat(f[1], 64)
					depth += v
				}
			}
		}
		resp.Body.Close()
		if d := int64(depth); d > maxDepth.Load() {
			maxDepth.Store(d)
		}
	}
}

func readBodies(path string, n int) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out [][]byte
	for len(out) < n && sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	if len(out) < n {
		return nil, fmt.Errorf("%s has %d orders; %d are needed", path, len(out), n)
	}
	return out, sc.Err()
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
