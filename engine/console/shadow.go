package console

import (
	"net/http"

	"github.com/pipectl/pipectl/engine/state"
)

// shadowVersion starts or stops the shadow of a pipeline's candidate
// version. The candidate is a file serve loaded (pipectl serve --shadow
// FILE): the console never authors pipelines, it only chooses when the
// loaded candidate runs. Started again, its comparison counts from zero.
func (c *Console) shadowVersion(start bool) handlerFunc {
	return func(r request) (view, error) {
		name := r.PathValue("name")
		if _, ok := c.srv.Pipeline(name); !ok {
			return view{}, errStatus(http.StatusNotFound, "no pipeline %q is served", name)
		}
		action := "shadow.version.stop"
		if start {
			action = "shadow.version.start"
			if err := c.srv.StartShadowVersion(name); err != nil {
				return view{}, errStatus(http.StatusConflict, "%s", err)
			}
		} else {
			if rep, ok := c.srv.VersionShadow(name); !ok || !rep.Running {
				return view{}, errStatus(http.StatusConflict, "no shadow version of %s is running", name)
			}
			c.srv.StopShadowVersion(name)
		}
		rep, _ := c.srv.VersionShadow(name)
		if err := c.srv.Queue().AddAudit(r.ctx(), &state.AuditEntry{At: c.cfg.Now(), Actor: r.who.Actor(), Action: action, Subject: name,
			Reason: "version " + rep.Version + " from " + rep.Path}); err != nil {
			return view{}, err
		}
		if isAPI(r.Request) {
			return view{data: rep}, nil
		}
		return view{data: redirect("/ui/pipelines/" + name)}, nil
	}
}
