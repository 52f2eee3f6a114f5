package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
)

const sessionCookie = "pipectl_session"

// local is who asks when no token is in force: serve then listens on
// loopback only, so it is someone on this machine.
var local = ops.Principal{Name: "local", Role: "operator"}

type principalKey struct{}

// sessions are the browsers signed in, by session id, in memory.
type sessions struct {
	mu   sync.Mutex
	idle time.Duration
	by   map[string]*session
}

type session struct {
	who  ops.Principal
	seen time.Time
}

func newSessions(idle time.Duration) *sessions {
	return &sessions{idle: idle, by: map[string]*session{}}
}

func (s *sessions) add(who ops.Principal, now time.Time) string {
	b := make([]byte, 32)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.by[id] = &session{who: who, seen: now}
	return id
}

func (s *sessions) get(id string, now time.Time) (ops.Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.by[id]
	if ss == nil || now.Sub(ss.seen) > s.idle {
		delete(s.by, id)
		return ops.Principal{}, false
	}
	ss.seen = now
	return ss.who, true
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.by, id)
}

// who finds who asks: a bearer token, a session, or — with no token in
// force — the local operator. ok is false when nobody could be found.
func (c *Console) who(r *http.Request) (ops.Principal, bool, error) {
	ctx := r.Context()
	q := c.srv.Queue()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, found := strings.CutPrefix(h, "Bearer ")
		if !found {
			return ops.Principal{}, false, nil
		}
		p, err := ops.Authenticate(ctx, q, tok, c.cfg.Now())
		if errors.Is(err, ops.ErrUnauthorized) {
			return ops.Principal{}, false, nil
		}
		return p, err == nil, err
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if p, ok := c.sessions.get(ck.Value, c.cfg.Now()); ok {
			// A revoked token's sessions end with it.
			if t, err := q.Token(ctx, p.TokenID); err == nil && t.Revoked.IsZero() {
				return p, true, nil
			}
			c.sessions.drop(ck.Value)
		}
	}
	any, err := ops.HasTokens(ctx, q)
	if err != nil {
		return ops.Principal{}, false, err
	}
	if !any {
		return local, true, nil
	}
	return ops.Principal{}, false, nil
}

// authorized lets through those with scope: nobody known is sent to sign
// in (a page) or answered 401 (the API); someone without the scope, or
// any write on a read-only console, gets 403.
func (c *Console) authorized(scope ops.Scope, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := c.who(r)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, err)
			return
		}
		if !ok {
			if !isAPI(r) && r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="pipectl"`)
			c.fail(w, r, http.StatusUnauthorized, errors.New("sign in with a token: pipectl tokens create NAME --role ROLE"))
			return
		}
		who := Principal{Principal: p, ReadOnly: c.cfg.ReadOnly}
		if !who.May(scope) {
			c.fail(w, r, http.StatusForbidden, errors.New(who.WhyNot(scope)))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, who)))
	})
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.html(w, http.StatusOK, "login", map[string]any{"Data": map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}})
}

// login exchanges a token for a session cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	p, err := ops.Authenticate(r.Context(), c.srv.Queue(), r.PostFormValue("token"), c.cfg.Now())
	if err != nil {
		status := http.StatusUnauthorized
		if !errors.Is(err, ops.ErrUnauthorized) {
			status = http.StatusServiceUnavailable
		}
		c.html(w, status, "login", map[string]any{"Data": map[string]any{"Next": safeNext(r.PostFormValue("next")), "Error": err.Error()}})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: c.sessions.add(p, c.cfg.Now()), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.drop(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a sign-in's next page on the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/ui/"
	}
	return next
}
