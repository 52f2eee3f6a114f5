// Package ops is what operators do to a running pipectl, in one place for
// every face: the CLI commands that change state (`pipectl tokens`,
// `pipectl dlq resolve`) and the console's handlers call the same
// functions, so a rule of who may do what, or what gets audited, is
// written once.
package ops

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/state"
)

// A Scope is one thing a token may do.
type Scope string

const (
	ScopeRead    Scope = "read"              // see everything but PII
	ScopePII     Scope = "pii:read"          // see emails and addresses unmasked
	ScopeDLQ     Scope = "dlq:write"         // edit, replay and resolve dead letters
	ScopeOperate Scope = "pipelines:operate" // pause and resume
	ScopeRules   Scope = "rules:write"       // change business rules
	ScopeAdmin   Scope = "admin"             // manage tokens
	tokenPrefix        = "pct_"
)

// Roles bundle scopes. A viewer reads with PII masked; an operator works
// dead letters, pauses pipelines and changes rules; an admin also manages
// tokens.
var Roles = map[string][]Scope{
	"viewer":   {ScopeRead},
	"operator": {ScopeRead, ScopePII, ScopeDLQ, ScopeOperate, ScopeRules},
	"admin":    {ScopeRead, ScopePII, ScopeDLQ, ScopeOperate, ScopeRules, ScopeAdmin},
}

// RoleNames lists the roles, the least allowed first.
var RoleNames = []string{"viewer", "operator", "admin"}

// Principal is who is asking: a token's name and role.
type Principal struct {
	TokenID string
	Name    string
	Role    string
}

// Can reports whether p has scope.
func (p Principal) Can(s Scope) bool { return slices.Contains(Roles[p.Role], s) }

// Actor is how p appears in the audit log.
func (p Principal) Actor() string { return "token:" + p.Name }

// ErrUnauthorized is a missing, malformed, unknown or revoked token.
var ErrUnauthorized = errors.New("the token is missing, unknown or revoked")

// CreateToken makes a token for role, stores its hash and returns the
// secret, "pct_ID_SECRET", which is shown this once and never again.
func CreateToken(ctx context.Context, q state.Queue, name, role, by string, now time.Time) (secret string, t *state.Token, err error) {
	if _, ok := Roles[role]; !ok {
		return "", nil, fmt.Errorf("role %q: want one of %s", role, strings.Join(RoleNames, ", "))
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil, errors.New("a token needs a name (who or what uses it: ops-laptop, grafana)")
	}
	idBytes := make([]byte, 5)
	secretBytes := make([]byte, 32)
	rand.Read(idBytes)
	rand.Read(secretBytes)
	id := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(idBytes))
	raw := base64.RawURLEncoding.EncodeToString(secretBytes)
	t = &state.Token{ID: id, Name: name, Role: role, SecretHash: hashSecret(raw), Created: now, CreatedBy: by}
	if err := q.AddToken(ctx, t); err != nil {
		return "", nil, err
	}
	if err := q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: by, Action: "token.create", Subject: "token/" + name, Reason: "role " + role}); err != nil {
		return "", nil, err
	}
	return tokenPrefix + id + "_" + raw, t, nil
}

// RevokeToken revokes the token named name (or with that id) at once.
func RevokeToken(ctx context.Context, q state.Queue, nameOrID, by string, now time.Time) (*state.Token, error) {
	all, err := q.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range all {
		if t.Name == nameOrID || t.ID == nameOrID {
			if err := q.RevokeToken(ctx, t.ID, now); err != nil {
				return nil, err
			}
			if err := q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: by, Action: "token.revoke", Subject: "token/" + t.Name}); err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("token %q: %w", nameOrID, state.ErrNoToken)
}

// Authenticate checks a presented token, "pct_ID_SECRET": known, not
// revoked, its secret's hash equal (in constant time) to the one kept.
func Authenticate(ctx context.Context, q state.Queue, presented string, now time.Time) (Principal, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(presented), tokenPrefix)
	if !ok {
		return Principal{}, ErrUnauthorized
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" {
		return Principal{}, ErrUnauthorized
	}
	t, err := q.Token(ctx, id)
	switch {
	case errors.Is(err, state.ErrNoToken):
		return Principal{}, ErrUnauthorized
	case err != nil:
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.SecretHash)) != 1 || !t.Revoked.IsZero() {
		return Principal{}, ErrUnauthorized
	}
	_ = q.TouchToken(ctx, t.ID, now) // when it was last used is a courtesy
	return Principal{TokenID: t.ID, Name: t.Name, Role: t.Role}, nil
}

// HasTokens reports whether any token is in force: serve refuses to
// listen beyond loopback without one.
func HasTokens(ctx context.Context, q state.Queue) (bool, error) {
	all, err := q.ListTokens(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range all {
		if t.Revoked.IsZero() {
			return true, nil
		}
	}
	return false, nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
