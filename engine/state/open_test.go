package state_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// TestOpenDefault checks the embedded default: no URL means SQLite in
// ./.pipectl/state.db, created with its directory, in WAL mode.
func TestOpenDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := state.Open(ctx, "", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "k", "A", "east", "1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, state.DefaultDir, "state.db")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("default state file: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var version int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q, %v; want wal", mode, err)
	}
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != 5 {
		t.Errorf("schema version %d, %v", version, err)
	}
	// A directory gets state.db in it.
	s, err = state.Open(ctx, "sqlite://"+filepath.Join(dir, state.DefaultDir), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l := level(t, s, "A", "east"); !l.Exists || l.OnHand.String() != "1" {
		t.Errorf("reopened by directory: %+v", l)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, u := range []string{"mysql://root:pw@localhost/db", "sqlite://", "state.db"} {
		s, err := state.Open(ctx, u, state.Options{})
		if err == nil {
			s.Close()
			t.Errorf("%s: opened", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the password is in the message: %v", u, err)
		}
	}
}

// TestOpenRefusesNewerSchema: a database migrated by a newer pipectl is not
// touched by an older one.
func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		mustOpen(t, "sqlite://"+path, component.SystemClock{}).Close()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if s, err := state.Open(ctx, "sqlite://"+path, state.Options{}); err == nil || !strings.Contains(err.Error(), "newer than this pipectl") {
			if s != nil {
				s.Close()
			}
			t.Errorf("opened a newer schema: %v", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		u := postgresDB(t)
		mustOpen(t, u, component.SystemClock{}).Close()
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		delete(cfg.RuntimeParams, "pool_max_conns") // a pool setting, not the server's
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', now())`); err != nil {
			t.Fatal(err)
		}
		if s, err := state.Open(ctx, u, state.Options{}); err == nil || !strings.Contains(err.Error(), "newer than this pipectl") {
			if s != nil {
				s.Close()
			}
			t.Errorf("opened a newer schema: %v", err)
		}
	})
}
