package serve

import "github.com/pipectl/pipectl/pipelines/component"

// startSchedule starts keeping a cron trigger's schedule.
func (s *Server) startSchedule(pipeline, trigger string, sch component.Schedule) {}
