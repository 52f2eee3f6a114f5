package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
)

const tokensUsage = `Usage: pipectl tokens <create|list|revoke> [flags] [arguments]

Tokens are how people and programs sign in to the console (pipectl serve's
/ui) and call its API (/api/v1, Authorization: Bearer TOKEN). Each has a
name and a role: viewer (reads; emails and addresses masked), operator
(also works dead letters, pauses pipelines, changes rules) or admin (also
manages tokens). Only a hash of a token is stored; create prints the token
once. Without any token, serve listens on loopback only.

Commands:
  create NAME --role ROLE   make a token and print it once
  list                      list tokens: name, role, created, last used, revoked
  revoke NAME               revoke a token at once

Examples:
  pipectl tokens create ops-laptop --role operator
  pipectl tokens create grafana --role viewer --state postgres://pipectl@db/pipectl
  pipectl tokens list
  pipectl tokens revoke ops-laptop
`

func runTokens(c *cli, args []string) int {
	if len(args) == 0 {
		io.WriteString(c.stderr, tokensUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		io.WriteString(c.stdout, tokensUsage)
		return exitOK
	}
	switch args[0] {
	case "create":
		return runTokensCreate(c, args[1:])
	case "list":
		return runTokensList(c, args[1:])
	case "revoke":
		return runTokensRevoke(c, args[1:])
	}
	fmt.Fprintf(c.stderr, "pipectl tokens: unknown command %q%s\n", args[0], suggest(args[0], []string{"create", "list", "revoke"}))
	return exitUsage
}

func runTokensCreate(c *cli, args []string) int {
	fs := newFlags(c, "tokens create", "NAME --role viewer|operator|admin", "Create makes a token and prints it once; only its hash is kept.",
		"  pipectl tokens create ops-laptop --role operator")
	role := fs.String("role", "", "viewer, operator or admin (required)")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *role == "" {
		fmt.Fprintln(c.stderr, "pipectl tokens create: name the token and give --role viewer|operator|admin")
		return exitUsage
	}
	q, ok := openQueue(c, "tokens create", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	secret, t, err := ops.CreateToken(context.Background(), q, pos[0], *role, actor(), time.Now())
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl tokens create: %v\n", err)
		return exitError
	}
	fmt.Fprintf(c.stderr, "token %s (%s) made; it is shown this once:\n", t.Name, t.Role)
	fmt.Fprintln(c.stdout, secret)
	return exitOK
}

func runTokensList(c *cli, args []string) int {
	fs := newFlags(c, "tokens list", "[--format text|json]", "List prints every token without its secret.", "  pipectl tokens list --format json")
	format := fs.String("format", "text", "text or json")
	stateURL := fs.String("state", "", stateFlagDoc)
	if _, code, ok := parseFlags(c, fs, args); !ok {
		return code
	}
	q, ok := openQueue(c, "tokens list", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	all, err := q.ListTokens(context.Background())
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl tokens list: %v\n", err)
		return exitError
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	if *format == "json" {
		out := []map[string]string{}
		for _, t := range all {
			out = append(out, map[string]string{"name": t.Name, "role": t.Role, "id": t.ID, "created": when(t.Created),
				"created_by": t.CreatedBy, "last_used": when(t.LastUsed), "revoked": when(t.Revoked)})
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED\tREVOKED")
	for _, t := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, when(t.Created), orDash(when(t.LastUsed)), orDash(when(t.Revoked)))
	}
	tw.Flush()
	return exitOK
}

func runTokensRevoke(c *cli, args []string) int {
	fs := newFlags(c, "tokens revoke", "NAME", "Revoke ends a token at once: its next request is refused.", "  pipectl tokens revoke ops-laptop")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(c.stderr, "pipectl tokens revoke: name one token")
		return exitUsage
	}
	q, ok := openQueue(c, "tokens revoke", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	t, err := ops.RevokeToken(context.Background(), q, pos[0], actor(), time.Now())
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl tokens revoke: %v\n", err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "token %s revoked\n", t.Name)
	return exitOK
}
