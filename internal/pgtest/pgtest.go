// Package pgtest gives a test a PostgreSQL schema of its own on the server
// integration tests use, so tests and benchmarks of several packages can
// run at once against one database and leave nothing behind. Only tests
// import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL is the server integration tests use: the one on this machine unless
// PIPECTL_TEST_POSTGRES_URL names another.
func URL() string {
	if u := os.Getenv("PIPECTL_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Unavailable skips a test that needs a service that is not there, or
// fails it when PIPECTL_REQUIRE_SERVICES=1 (DESIGN.md §9).
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s (PIPECTL_REQUIRE_SERVICES=1)", msg)
	}
	t.Skipf("%s: skipping (set PIPECTL_REQUIRE_SERVICES=1 to fail instead)", msg)
}

var (
	reachOnce sync.Once
	reachErr  error
)

// Schema creates a schema named prefix plus a random suffix, dropped when
// the test ends, and returns URL() with its search_path set to it and the
// query parameters params (pool_max_conns, say) added.
func Schema(t testing.TB, prefix string, params url.Values) string {
	t.Helper()
	base := URL()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		reachErr = err
	})
	if reachErr != nil {
		Unavailable(t, "PostgreSQL at %s is not reachable (%v); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`", base, reachErr)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	if err := exec(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on a connection of its own.
func exec(base, sql string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Database creates a database of its own, named prefix plus a random
// suffix, dropped when the test ends, and returns URL() naming it with the
// query parameters params added. It is for tests that read the server's
// per-database statistics (pg_stat_database: deadlocks, say), which a
// schema in the shared database would mix with other packages' tests.
func Database(t testing.TB, prefix string, params url.Values) string {
	t.Helper()
	Schema(t, prefix, nil) // reachability, and the skip when it is not there
	base := URL()
	var b [6]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if err := exec(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(base, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}
