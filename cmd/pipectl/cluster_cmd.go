package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/engine/state/jsintake"
)

const clusterUsage = `Usage: pipectl cluster status [--state URL] [--nats URL] [--nats-stream NAME] [--json]

Cluster reports on the serve processes sharing a store.

Commands:
  status   the nodes (roles, address, version, last heartbeat; up or gone),
           and per pipeline: deliveries queued and running, sink retries
           waiting, open dead letters, and with --nats the JetStream
           consumer's lag (published, not yet handed to a worker),
           deliveries handed out and not acknowledged, redelivered ones,
           and idle workers waiting
`

func runCluster(c *cli, args []string) int {
	if len(args) == 0 {
		io.WriteString(c.stderr, clusterUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		io.WriteString(c.stdout, clusterUsage)
		return exitOK
	}
	if args[0] == "status" {
		return runClusterStatus(c, args[1:])
	}
	fmt.Fprintf(c.stderr, "pipectl cluster: unknown command %q%s\n", args[0], suggest(args[0], []string{"status"}))
	return exitUsage
}

// clusterStatus is what cluster status reports, as --json prints it.
type clusterStatus struct {
	Nodes     []clusterNodeStatus     `json:"nodes"`
	Pipelines []clusterPipelineStatus `json:"pipelines"`
	Stream    *jsintake.StreamStatus  `json:"stream,omitempty"`
}

type clusterNodeStatus struct {
	state.Node
	Up bool `json:"up"`
}

type clusterPipelineStatus struct {
	Pipeline    string                   `json:"pipeline"`
	Queued      int                      `json:"queued"`
	Running     int                      `json:"running"`
	Retries     int                      `json:"retries"`
	DeadLetters int                      `json:"dead_letters_open"`
	Consumer    *jsintake.ConsumerStatus `json:"consumer,omitempty"`
}

func runClusterStatus(c *cli, args []string) int {
	fs := newFlags(c, "cluster status", "[--state URL] [--nats URL] [--nats-stream NAME] [--json]",
		"Status lists the serve processes on the store and each pipeline's queue, retries and dead letters; with --nats, the JetStream consumers' lag.",
		"  pipectl cluster status --state postgres://pipectl@db/pipectl --nats nats://nats:4222")
	stateURL := fs.String("state", "", stateFlagDoc)
	natsURL := fs.String("nats", "", "the NATS server(s) serve's --nats names: adds the stream and each pipeline's consumer")
	natsStream := fs.String("nats-stream", jsintake.DefaultStream, "the stream serve's --nats-stream names")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := parseFlags(c, fs, args); !ok {
		return code
	}
	q, ok := openQueue(c, "cluster status", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := readClusterStatus(ctx, q, *natsURL, *natsStream)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl cluster status: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	printClusterStatus(c.stdout, st, time.Now())
	return exitOK
}

func readClusterStatus(ctx context.Context, q state.Queue, natsURL, stream string) (*clusterStatus, error) {
	nodes, err := q.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	st := &clusterStatus{Nodes: []clusterNodeStatus{}, Pipelines: []clusterPipelineStatus{}}
	now := time.Now()
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, clusterNodeStatus{Node: *n, Up: now.Sub(n.Seen) < serve.NodeGone})
	}
	names, err := q.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := q.CountDeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	for p := range dead {
		names = append(names, p)
	}
	consumers := map[string]*jsintake.ConsumerStatus{}
	if natsURL != "" {
		if st.Stream, err = jsintake.Inspect(ctx, natsURL, stream); err != nil {
			return nil, err
		}
		for i := range st.Stream.Consumers {
			cs := &st.Stream.Consumers[i]
			consumers[cs.Pipeline] = cs
			names = append(names, cs.Pipeline)
		}
	}
	slices.Sort(names)
	for _, p := range slices.Compact(names) {
		d, err := q.Depth(ctx, p)
		if err != nil {
			return nil, err
		}
		st.Pipelines = append(st.Pipelines, clusterPipelineStatus{Pipeline: p, Queued: d.Queued, Running: d.Running,
			Retries: d.Retries, DeadLetters: dead[p], Consumer: consumers[p]})
	}
	return st, nil
}

func printClusterStatus(w io.Writer, st *clusterStatus, now time.Time) {
	up := 0
	for _, n := range st.Nodes {
		if n.Up {
			up++
		}
	}
	fmt.Fprintf(w, "nodes: %d up, %d gone\n", up, len(st.Nodes)-up)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(st.Nodes) > 0 {
		fmt.Fprintln(tw, "  NODE\tSTATE\tROLES\tLISTEN\tQUEUE\tVERSION\tSTARTED\tLAST SEEN")
		for _, n := range st.Nodes {
			state := "up"
			if !n.Up {
				state = "gone"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s ago\n", n.Name, state, n.Roles, n.Listen, n.Queue, n.Version,
				n.Started.UTC().Format(time.RFC3339), now.Sub(n.Seen).Round(time.Second))
		}
		tw.Flush()
	}
	if st.Stream != nil {
		fmt.Fprintf(w, "stream %s: %d messages kept (%s), %d replicas\n", st.Stream.Stream, st.Stream.Messages, bytesText(st.Stream.Bytes), st.Stream.Replicas)
	}
	if len(st.Pipelines) == 0 {
		fmt.Fprintln(w, "pipelines: nothing queued, retried or dead-lettered")
		return
	}
	fmt.Fprintln(w, "pipelines:")
	header := "  PIPELINE\tQUEUED\tRUNNING\tRETRIES\tDEAD LETTERS"
	if st.Stream != nil {
		header += "\tLAG\tUNACKED\tREDELIVERED\tIDLE WORKERS"
	}
	fmt.Fprintln(tw, header)
	for _, p := range st.Pipelines {
		line := fmt.Sprintf("  %s\t%d\t%d\t%d\t%d", p.Pipeline, p.Queued, p.Running, p.Retries, p.DeadLetters)
		if st.Stream != nil {
			if cs := p.Consumer; cs != nil {
				line += fmt.Sprintf("\t%d\t%d\t%d\t%d", cs.Pending, cs.AckPending, cs.Redelivered, cs.Waiting)
			} else {
				line += "\t-\t-\t-\t-"
			}
		}
		fmt.Fprintln(tw, strings.TrimRight(line, "\t"))
	}
	tw.Flush()
}

// bytesText is a byte count as people read it.
func bytesText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
