package component

import (
	"net/http"
	"sync"
)

// Connections keeps HTTP transports from one run to the next. serve runs
// a pipeline once per batch of deliveries; without it each run's sinks
// would dial the WMS afresh and close the connections at the end, a TCP
// handshake per batch. The zero value is ready to use.
type Connections struct {
	mu sync.Mutex
	m  map[string]*http.Transport
}

// Transport is the transport kept under key, built by build the first
// time.
func (c *Connections) Transport(key string, build func() *http.Transport) *http.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[key]; ok {
		return t
	}
	if c.m == nil {
		c.m = map[string]*http.Transport{}
	}
	t := build()
	c.m[key] = t
	return t
}

// CloseIdle closes every kept transport's idle connections, when the
// process stops serving.
func (c *Connections) CloseIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.m {
		t.CloseIdleConnections()
	}
}
