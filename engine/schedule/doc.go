// Package schedule runs a pipeline's cron trigger for `pipectl serve`: it
// waits for each tick of a component.Schedule, claims the tick in the
// serve state (state.Ticks) so that one process only runs it however many
// share the store, runs it through a callback and records the run
// (state.Runs). It knows nothing of what a run does; serve gives it a
// RunFunc.
//
// Choices made here:
//
//   - A tick is claimed by its scheduled instant, never by the time a
//     process woke for it, in UTC and truncated to the second: every
//     process computes the same key whatever its time zone or clock skew,
//     and a wall clock that repeats an hour repeats no key.
//   - Daylight saving is the Schedule's: the Scheduler runs the instants it
//     returns, each once. The cron trigger's Schedule reads schedules that
//     name hours on the wall clock: a Europe/Berlin 02:30 schedule runs at
//     03:00 on the day clocks go forward (2026-03-29: 02:30 does not
//     exist) and once, at the first 02:30, on the day they go back
//     (2026-10-25).
//   - A run never overlaps the previous one of the same Scheduler. A tick
//     that comes while a run is going is claimed all the same, so that no
//     other process runs it alongside; then with overlap "skip" (the
//     default) it is recorded as a run with outcome "skipped", and with
//     "queue" it runs when the run going ends, at most one tick waiting
//     (further ones are skipped). Across processes claims alone cannot see
//     a run that outlasts the interval: an idle process that claims the
//     next tick first runs it while the other's run is still going.
//   - Catch-up happens when Run starts, over the ticks after the last one
//     claimed (state.Ticks.LastTick) up to now. A schedule never claimed
//     has nothing to catch up: a new trigger never runs ticks from before
//     it was first served. catch_up "none" runs none of them, "latest" (the
//     default) runs the latest once, "all" runs every one in order, at most
//     MaxCatchUp (the latest; older ones are logged and counted as missed).
//     Missed ticks that do not run are not claimed. Caught-up ticks are
//     claimed one by one when their turn comes, so processes starting
//     together share them out, and a process that stops part-way leaves
//     the rest to the next catch-up.
//   - A wake-up that finds several ticks due at once (the host was
//     suspended, a store call or the clock stalled the loop) treats them as
//     missed ticks and catches them up by the same policy; a single tick,
//     even late, is on time.
//   - Timers count elapsed time, not wall time, so a wait lasts at most a
//     minute before the clock is read again: a suspended host or a stepped
//     clock delays a tick by at most that. A clock stepped back reruns
//     nothing.
//   - A tick whose claim fails (the store is down) does not run, since
//     running it could run it twice; a run whose start could not be
//     recorded runs all the same. A panicking run is recorded as an
//     "error" run and the Scheduler goes on.
//   - Run returns when its context ends, after the run going (if any) has
//     returned; that run's context is Run's, so it is interrupted. A tick
//     waiting its turn (queued) is recorded as skipped.
package schedule
