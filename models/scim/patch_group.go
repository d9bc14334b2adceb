package scim

import (
	"encoding/json"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// GroupChange is a PATCH on a group as an ordered list of steps, so that the database
// can change the membership of groups of 10,000+ members without loading them.
type GroupChange struct {
	DisplayName *string // nil: unchanged
	ExternalID  *string // nil: unchanged; pointer to "": remove
	Members     []MemberStep
}

// MemberStep is one change of membership, applied in order.
type MemberStep struct {
	Kind string   // "add" (union), "remove" (only these), "replace" (set exactly these), "removeAll"
	IDs  []string // member ids (the "value" of each member); nil for removeAll
}

// Member step kinds.
const (
	StepAdd       = "add"
	StepRemove    = "remove"
	StepReplace   = "replace"
	StepRemoveAll = "removeAll"
)

// GroupPatch turns PATCH operations on a Group into a GroupChange (RFC 7644 §3.5.2):
//   - add "members" with a value array: union (never a replacement);
//   - remove `members[value eq "id"]` (also `value eq "a" or value eq "b"`), or remove
//     "members" with a value array (Entra): removes only those;
//   - remove "members" without a value: removeAll; replace "members": set exactly
//     (an empty array is removeAll);
//   - add/replace "displayName" and "externalId" with a path, or path-less with an
//     object {"displayName": …} — Okta and Entra also send "id" in it, which is
//     skipped. The core Group URN may prefix any path or key.
//
// Consecutive steps of the same kind are merged; ids repeat at most once per step.
// Unknown paths are 400 invalidPath; id, meta are mutability; removing displayName is
// mutability; wrong value types are invalidValue.
func GroupPatch(ops []PatchOp) (*GroupChange, error) {
	ch := &GroupChange{}
	for i, op := range ops {
		var err error
		if op.Path == "" {
			err = groupObject(ch, op.Op, op.Value)
		} else {
			err = groupPath(ch, op.Op, op.Path, op.Value)
		}
		if err != nil {
			return nil, numbered(i, err)
		}
	}
	return ch, nil
}

func groupObject(ch *GroupChange, op string, value json.RawMessage) error {
	return groupObjectIn(ch, op, value, false)
}

// groupObjectIn is groupObject; inCore refuses the Group URN nesting inside itself
// (see patchUserObjectIn).
func groupObjectIn(ch *GroupChange, op string, value json.RawMessage, inCore bool) error {
	fields, ok := objectFields(value)
	if !ok {
		return badRequest(InvalidValue, "Without a path the value must be an object of attributes")
	}
	for _, f := range fields {
		if inCore && strings.EqualFold(strings.TrimSpace(f.Key), SchemaGroup) {
			return badRequest(InvalidValue, "%s cannot nest inside itself", SchemaGroup)
		}
		switch strings.ToLower(f.Key) {
		case "schemas", "id":
			continue // Okta sends {"id": …, "displayName": …}
		}
		if err := groupPath(ch, op, f.Key, f.Value); err != nil {
			return err
		}
	}
	return nil
}

func groupPath(ch *GroupChange, op, p string, value json.RawMessage) error {
	p = strings.TrimSpace(p)
	if strings.EqualFold(p, SchemaGroup) {
		if op == "remove" {
			return badRequest(InvalidPath, "%s cannot be removed", p)
		}
		return groupObjectIn(ch, op, value, true)
	}
	if rest, ok := cutPrefixFold(p, SchemaGroup+":"); ok {
		p = rest
	} else if _, urn := cutPrefixFold(p, "urn:"); urn {
		return badRequest(InvalidPath, "Unknown schema in path %q", p)
	}
	pp, err := parsePath(p)
	if err != nil {
		return err
	}
	plain := pp.sub == "" && pp.expr == nil
	switch {
	case pp.attr == "id" || pp.attr == "meta":
		return badRequest(Mutability, "%s is read-only", p)
	case pp.attr == "displayname" && plain:
		if op == "remove" {
			return badRequest(Mutability, "displayName is required and cannot be removed")
		}
		s, ok := stringValue(value)
		if !ok || isNull(value) || strings.TrimSpace(s) == "" {
			return badRequest(InvalidValue, "displayName must be a non-empty string")
		}
		ch.DisplayName = &s
	case pp.attr == "externalid" && plain:
		s := ""
		if op != "remove" {
			if s, err = stringAttr("externalId", value); err != nil {
				return err
			}
		}
		ch.ExternalID = &s
	case pp.attr == "members" && pp.expr == nil && (pp.sub == "" || pp.sub == "value"):
		return groupMembers(ch, op, value)
	case pp.attr == "members" && pp.expr != nil && pp.sub == "":
		if op != "remove" {
			return badRequest(InvalidPath, "%s: add and replace take the path \"members\"", p)
		}
		ids, ok := memberFilterIDs(pp.expr)
		if !ok {
			return badRequest(InvalidPath, "%q: only value eq \"id\" filters, joined with or, are supported", p)
		}
		ch.step(StepRemove, ids)
	default:
		return badRequest(InvalidPath, "Unknown attribute %q", p)
	}
	return nil
}

// groupMembers applies op on the path "members".
func groupMembers(ch *GroupChange, op string, value json.RawMessage) error {
	if op == "remove" && isNull(value) {
		ch.step(StepRemoveAll, nil)
		return nil
	}
	var ids []string
	if !isNull(value) {
		ms, err := memberValues(value)
		if err != nil {
			return err
		}
		for _, m := range ms {
			ids = append(ids, m.Value)
		}
	}
	switch {
	case op == "replace" && len(ids) == 0:
		ch.step(StepRemoveAll, nil)
	case op == "replace":
		ch.step(StepReplace, ids)
	case len(ids) == 0: // add or remove of nothing
	case op == "add":
		ch.step(StepAdd, ids)
	default:
		ch.step(StepRemove, ids)
	}
	return nil
}

// step appends a membership step, merged into the previous one when both add or both
// remove; a replace or removeAll makes the steps before it moot.
func (ch *GroupChange) step(kind string, ids []string) {
	if kind == StepReplace || kind == StepRemoveAll {
		ch.Members = ch.Members[:0]
	}
	if n := len(ch.Members); n > 0 && ch.Members[n-1].Kind == kind && (kind == StepAdd || kind == StepRemove) {
		ch.Members[n-1].IDs = appendUnique(ch.Members[n-1].IDs, ids)
		return
	}
	st := MemberStep{Kind: kind}
	if kind != StepRemoveAll {
		st.IDs = appendUnique(make([]string, 0, len(ids)), ids)
	}
	ch.Members = append(ch.Members, st)
}

func appendUnique(dst, ids []string) []string {
	seen := make(map[string]bool, len(dst)+len(ids))
	for _, id := range dst {
		seen[id] = true
	}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			dst = append(dst, id)
		}
	}
	return dst
}

// memberFilterIDs reads `value eq "a"` or `value eq "a" or value eq "b" …`.
func memberFilterIDs(expr filter.Expression) ([]string, bool) {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		if x.Operator != filter.OR {
			return nil, false
		}
		l, ok := memberFilterIDs(x.Left)
		if !ok {
			return nil, false
		}
		r, ok := memberFilterIDs(x.Right)
		return append(l, r...), ok
	case *filter.AttributeExpression:
		if !strings.EqualFold(x.AttributePath.AttributeName, "value") || x.AttributePath.SubAttribute != nil ||
			x.AttributePath.URIPrefix != nil || !strings.EqualFold(string(x.Operator), string(filter.EQ)) {
			return nil, false
		}
		s, ok := filterText(x.CompareValue)
		s = strings.TrimSpace(s)
		return []string{s}, ok && s != ""
	}
	return nil, false
}
