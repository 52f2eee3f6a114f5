package serve

import (
	"context"
	"time"

	"github.com/pipectl/pipectl/engine/state"
)

// heartbeatEvery is how often a serve process records itself in the
// store; a node not seen for three beats is listed as gone.
const heartbeatEvery = 5 * time.Second

// NodeGone is how long a node may go unseen before `pipectl cluster
// status` and the console list it as gone rather than up.
const NodeGone = 3 * heartbeatEvery

// nodesKept is how long a gone node stays listed (it was killed, or lost
// the store) before a heartbeat of another node forgets it.
const nodesKept = 24 * time.Hour

// heartbeat records this process in the store every heartbeatEvery until
// the drain, then removes it: a node that stopped cleanly is not listed.
func (s *Server) heartbeat() {
	n := s.cfg.Node
	n.Started = s.cfg.Clock.Now()
	beat := func() {
		ctx, cancel := context.WithTimeout(context.Background(), heartbeatEvery)
		defer cancel()
		n.Seen = s.cfg.Clock.Now()
		if err := s.cfg.Queue.Heartbeat(ctx, &n); err != nil {
			s.log.Warn("heartbeat not recorded", "node", n.Name, "error", err.Error())
			return
		}
		s.cfg.Queue.ForgetNodes(ctx, n.Seen.Add(-nodesKept))
	}
	beat()
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			beat()
		case <-s.stopClaim:
			ctx, cancel := context.WithTimeout(context.Background(), heartbeatEvery)
			defer cancel()
			s.cfg.Queue.RemoveNode(ctx, n.Name)
			return
		}
	}
}

// Node is this process as it records itself in the store.
func (s *Server) Node() state.Node { return s.cfg.Node }
