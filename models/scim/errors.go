package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// scimType values of RFC 7644 §3.12.
const (
	InvalidFilter = "invalidFilter"
	TooMany       = "tooMany"
	Uniqueness    = "uniqueness"
	Mutability    = "mutability"
	InvalidSyntax = "invalidSyntax"
	InvalidPath   = "invalidPath"
	NoTarget      = "noTarget"
	InvalidValue  = "invalidValue"
	InvalidVers   = "invalidVers"
	Sensitive     = "sensitive"
)

// Error is a SCIM error (RFC 7644 §3.12). Its Detail is sent to the client, so it
// never carries internal causes.
type Error struct {
	Status   int    // HTTP status
	ScimType string // "" when none applies (401, 403, 404, 5xx …)
	Detail   string
}

// Errorf builds an *Error with a formatted detail.
func Errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// badRequest is Errorf(400, …), the status of every parse, PATCH and filter error.
func badRequest(scimType, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, scimType, format, args...)
}

func (e *Error) Error() string {
	if e.ScimType == "" {
		return fmt.Sprintf("scim: %d: %s", e.Status, e.Detail)
	}
	return fmt.Sprintf("scim: %d %s: %s", e.Status, e.ScimType, e.Detail)
}

// MarshalJSON gives the error schema with status as a string, as RFC 7644 §3.12 shows.
func (e Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Schemas  []string `json:"schemas"`
		Status   string   `json:"status"`
		ScimType string   `json:"scimType,omitempty"`
		Detail   string   `json:"detail"`
	}{[]string{SchemaError}, strconv.Itoa(e.Status), e.ScimType, e.Detail})
}
