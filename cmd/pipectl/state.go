package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// stateFlagDoc documents --state for run and dry-run.
const stateFlagDoc = "state store (inventory, seen keys): sqlite://PATH or postgres://… (default: SQLite in ./" + state.DefaultDir + "/)"

// openState opens the store a run uses: the one url names, or the embedded
// default. It returns nil without error when the plan needs none and no
// url was given, so `pipectl run` of a plain transformation leaves no
// ./.pipectl behind.
func openState(ctx context.Context, plan *pipelines.Plan, url string) (state.Store, error) {
	if url == "" && !plan.UsesState() {
		return nil, nil
	}
	st, err := state.Open(ctx, url, state.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening state: %w", err)
	}
	return st, nil
}

// openDryRunState opens the store a dry run reads. Dry runs change no
// state: the allocate step decides against the store's levels and commits
// nothing (component.Runtime.DryRun). When no url is given and the default
// store does not exist, a throwaway empty store stands in, rather than
// creating ./.pipectl; cleanup removes it.
func openDryRunState(ctx context.Context, plan *pipelines.Plan, url string) (st state.Store, cleanup func(), note string, err error) {
	cleanup = func() {}
	if url == "" && !plan.UsesState() {
		return nil, cleanup, "", nil
	}
	if url == "" {
		if _, statErr := os.Stat(filepath.Join(state.DefaultDir, "state.db")); errors.Is(statErr, fs.ErrNotExist) {
			dir, err := os.MkdirTemp("", "pipectl-dry-run-")
			if err != nil {
				return nil, cleanup, "", err
			}
			url = "sqlite://" + dir
			cleanup = func() { os.RemoveAll(dir) }
			note = "no state in ./" + state.DefaultDir + ": running against an empty state store, with no stock and no seen keys (give --state URL)"
		}
	}
	st, err = state.Open(ctx, url, state.Options{Clock: component.SystemClock{}})
	if err != nil {
		cleanup()
		return nil, func() {}, "", fmt.Errorf("opening state: %w", err)
	}
	c := cleanup
	return st, func() { st.Close(); c() }, note, nil
}
