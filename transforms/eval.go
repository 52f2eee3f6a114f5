package transforms

import (
	"fmt"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

// program returns the compiled expression of a setting. The compiler has
// compiled every expression before a step is built, so a missing one is a
// bug in the caller, reported as an error rather than a panic.
func program(v *component.Value, what string) (*exprs.Program, error) {
	if v == nil {
		return nil, fmt.Errorf("%s is not set", what)
	}
	p, ok := v.Expr.(*exprs.Program)
	if !ok || p == nil {
		return nil, fmt.Errorf("%s was not compiled", what)
	}
	return p, nil
}

// evalBool runs a condition.
func evalBool(p *exprs.Program, machine *vm.VM, env map[string]any) (bool, error) {
	v, err := p.Run(machine, env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q gave %s, not a boolean", p.Source(), goKind(v))
	}
	return b, nil
}

// appendKey evaluates a key (group, dedupe) and appends it to b as
// canonical JSON text (record.AppendKey): maps with sorted keys and
// decimals without trailing zeros, so values that compare equal give equal
// text (1.50 and 1.5), and the number 1 and the text "1" give different
// text. A null key is an error: it almost always means a missing field,
// and would otherwise lump every such record together.
func appendKey(b []byte, p *exprs.Program, machine *vm.VM, env map[string]any) ([]byte, error) {
	v, err := evalKey(p, machine, env)
	if err != nil {
		return b, err
	}
	return keyJSON(b, p, v, record.AppendKey)
}

// evalKey evaluates a key, refusing null.
func evalKey(p *exprs.Program, machine *vm.VM, env map[string]any) (any, error) {
	v, err := p.Run(machine, env)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", p.Source(), err)
	}
	if v == nil {
		return nil, fmt.Errorf("key %q is null", p.Source())
	}
	return v, nil
}

// keyJSON appends a key's value with write (record.AppendKey or
// record.AppendJSON), naming the key if it cannot be written.
func keyJSON(b []byte, p *exprs.Program, v any, write func([]byte, any) ([]byte, error)) ([]byte, error) {
	b, err := write(b, v)
	if err != nil {
		return b, fmt.Errorf("key %q: %w", p.Source(), err)
	}
	return b, nil
}

// optionalProgram is program for a setting that may be left out or set to
// `nil`: it returns nil then, and the step does without.
func optionalProgram(v *component.Value, what string) (*exprs.Program, error) {
	if v == nil || v.Str == "" || v.Str == "nil" {
		return nil, nil
	}
	return program(v, what)
}
