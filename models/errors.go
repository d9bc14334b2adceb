// Package models is the domain of Gatehouse and its persistence: bun models and the
// operations the application performs. It never imports Fiber, templ or handlers.
package models

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The error vocabulary shared by every surface.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("conflict")
	ErrForbidden = errors.New("forbidden")
)

// ValidationError carries one message per invalid field.
type ValidationError struct {
	Fields map[string]string
}

func (v *ValidationError) Error() string {
	keys := make([]string, 0, len(v.Fields))
	for k := range v.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %s", k, v.Fields[k]))
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records a message for field unless one is already there.
func (v *ValidationError) Add(field, msg string) {
	if v.Fields == nil {
		v.Fields = map[string]string{}
	}
	if _, ok := v.Fields[field]; !ok {
		v.Fields[field] = msg
	}
}

// Err returns v when it holds any message, else nil.
func (v *ValidationError) Err() error {
	if v == nil || len(v.Fields) == 0 {
		return nil
	}
	return v
}

// Invalid returns a ValidationError for one field.
func Invalid(field, msg string) error {
	v := &ValidationError{}
	v.Add(field, msg)
	return v
}

// AsValidation unwraps a ValidationError.
func AsValidation(err error) (*ValidationError, bool) {
	var v *ValidationError
	if errors.As(err, &v) {
		return v, true
	}
	return nil, false
}

// ForbiddenError is ErrForbidden with a message a person can act on.
type ForbiddenError struct{ Reason string }

func (f *ForbiddenError) Error() string        { return f.Reason }
func (f *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Forbidden returns an ErrForbidden carrying reason.
func Forbidden(reason string) error { return &ForbiddenError{Reason: reason} }
