package pipelines

import (
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// interpolation is the result of expanding ${VAR} and ${VAR:-default} in a
// setting.
type interpolation struct {
	value  string
	secret bool // a variable whose name marks it secret was used
	// secrets are the values of those variables: whatever pipectl prints
	// is masked with them, wherever the value ended up.
	secrets []string
	unset   []string // variables neither set nor defaulted
	bad     string   // a malformed reference, when not ""
}

// secretWords mark an environment variable as a secret by its name; a value
// interpolated from one is redacted wherever pipectl prints it.
var secretWords = []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE", "CREDENTIAL"}

// isSecretName reports whether an environment variable's name says it holds
// a secret.
func isSecretName(name string) bool {
	up := strings.ToUpper(name)
	for _, w := range secretWords {
		if strings.Contains(up, w) {
			return true
		}
	}
	return false
}

// readsEnv reports whether s holds a ${VAR} reference (`$${` is a literal).
func readsEnv(s string) bool {
	return strings.Contains(strings.ReplaceAll(s, "$${", ""), "${")
}

// interpolate expands ${VAR} and ${VAR:-default}; `$${` writes a literal
// `${`. lookup reads the environment.
func interpolate(s string, lookup func(string) (string, bool)) interpolation {
	if !strings.Contains(s, "${") {
		return interpolation{value: s}
	}
	var out strings.Builder
	var res interpolation
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			out.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' {
			out.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		out.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			res.bad = s[i:]
			return res
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		// A default holding a reference (${A:-${B}}) would end at the
		// inner '}' and leave a stray one: reject it rather than guess.
		if !validVarName(name) || strings.Contains(def, "${") {
			res.bad = s[i : i+end+1]
			return res
		}
		if isSecretName(name) {
			res.secret = true
		}
		v, ok := lookup(name)
		if ok && v != "" && isSecretName(name) {
			res.secrets = append(res.secrets, v)
		}
		switch {
		case ok && v != "":
			out.WriteString(v)
		case hasDef:
			out.WriteString(def)
		case ok:
		default:
			res.unset = append(res.unset, name)
		}
		s = s[i+end+1:]
	}
	res.value = out.String()
	return res
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// maskSecrets replaces secret values in the text of diagnostics: a message
// may quote a setting a secret was interpolated into (a path, a URL).
func maskSecrets(ds diag.Diagnostics, secrets []string) {
	if len(secrets) == 0 {
		return
	}
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, component.Redacted)
	}
	r := strings.NewReplacer(pairs...)
	for i := range ds {
		ds[i].Summary, ds[i].Detail, ds[i].Hint = r.Replace(ds[i].Summary), r.Replace(ds[i].Detail), r.Replace(ds[i].Hint)
	}
}
