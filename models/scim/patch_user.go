package scim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// ignoredUserAttrs are the RFC 7643 §4.1 User attributes Gatehouse does not store.
// PATCH accepts and ignores them, as POST and PUT do: Entra's default attribute
// mappings send title, phoneNumbers, addresses … and a 400 would stop provisioning.
// The enterprise extension is ignored the same way. Attributes outside the RFC are
// errors (400 invalidPath).
var ignoredUserAttrs = map[string]bool{
	"nickname": true, "profileurl": true, "title": true, "usertype": true, "preferredlanguage": true,
	"locale": true, "timezone": true, "password": true, "phonenumbers": true, "ims": true, "photos": true,
	"addresses": true, "entitlements": true, "roles": true, "x509certificates": true,
}

// attrNames spell lower-cased attribute names as the schema does, for error details.
var attrNames = map[string]string{"externalid": "externalId", "displayname": "displayName", "orgrole": "orgRole",
	"givenname": "givenName", "familyname": "familyName", "formatted": "formatted"}

// userTarget is what a PATCH path designates on a User.
type userTarget struct {
	kind targetKind
	path path // kind attribute: attr is one of active, username, externalid, displayname, name, emails, orgrole
}

type targetKind int

const (
	targetAttribute targetKind = iota
	targetCore                 // the core schema URN itself: a set of attributes
	targetExtension            // the Gatehouse extension URN itself: {"orgRole": …}
	targetIgnored              // a standard attribute Gatehouse does not store
)

// ApplyUserPatch applies ops in order to u (RFC 7644 §3.5.2), all or nothing: on error
// u is unchanged and the error is a 400 *Error naming the operation.
//
// Paths: active, userName, externalId, displayName, name, name.givenName,
// name.familyName, name.formatted, emails, emails[filter], emails[filter].value|type|
// primary, orgRole (also "sentryOrgRole" and the extension URN path), each optionally
// prefixed with the core schema URN. Without a path the value is an object whose keys
// are any of those paths (dotted, filtered or URN-qualified), or the extension URN
// holding {"orgRole": …}; "id" equal to u.ID and "schemas" are skipped there.
//
// Errors: an unknown attribute or a bad path is invalidPath; id, meta and groups are
// mutability, as is removing userName or active; a wrong value type is invalidValue;
// replace on emails[filter] matching nothing adds the email the filter describes
// (type eq "work", primary eq true) — Entra sends that for users without one — and is
// noTarget when the filter describes none. remove matching nothing is a no-op.
func ApplyUserPatch(u *User, ops []PatchOp) error {
	work := u.Clone()
	for i, op := range ops {
		var err error
		if op.Path == "" {
			err = patchUserObject(work, op.Op, op.Value)
		} else {
			err = patchUserPath(work, op.Op, op.Path, op.Value)
		}
		if err != nil {
			return numbered(i, err)
		}
	}
	*u = *work
	return nil
}

// numbered prefixes the detail of a SCIM error with the operation it comes from.
func numbered(i int, err error) error {
	if se, ok := err.(*Error); ok {
		return &Error{Status: se.Status, ScimType: se.ScimType, Detail: fmt.Sprintf("Operation %d: %s", i+1, se.Detail)}
	}
	return err
}

func patchUserPath(u *User, op, p string, value json.RawMessage) error {
	t, err := resolveUserPath(p)
	if err != nil {
		return err
	}
	switch t.kind {
	case targetIgnored:
		return nil
	case targetCore:
		if op == "remove" {
			return badRequest(InvalidPath, "%s cannot be removed", p)
		}
		return patchUserObjectIn(u, op, value, true)
	case targetExtension:
		return patchExtension(u, op, value)
	}
	return patchUserAttr(u, op, t.path, value)
}

// patchUserObject applies a path-less add or replace: each key of the object is a path.
func patchUserObject(u *User, op string, value json.RawMessage) error {
	return patchUserObjectIn(u, op, value, false)
}

// patchUserObjectIn is patchUserObject; inCore says the object is already the value
// of the core schema URN, which may not nest again (each level would be decoded
// anew: a deeply nested body would cost seconds of CPU).
func patchUserObjectIn(u *User, op string, value json.RawMessage, inCore bool) error {
	fields, ok := objectFields(value)
	if !ok {
		return badRequest(InvalidValue, "Without a path the value must be an object of attributes")
	}
	for _, f := range fields {
		if inCore && strings.EqualFold(strings.TrimSpace(f.Key), SchemaUser) {
			return badRequest(InvalidValue, "%s cannot nest inside itself", SchemaUser)
		}
		switch strings.ToLower(f.Key) {
		case "schemas":
			continue
		case "id":
			if s, ok := stringValue(f.Value); ok && s == u.ID {
				continue
			}
			return badRequest(Mutability, "id is read-only")
		}
		if err := patchUserPath(u, op, f.Key, f.Value); err != nil {
			return err
		}
	}
	return nil
}

// patchExtension applies an operation on the whole Gatehouse extension object.
func patchExtension(u *User, op string, value json.RawMessage) error {
	if op == "remove" || isNull(value) {
		u.OrgRole = ""
		return nil
	}
	fields, ok := objectFields(value)
	if !ok {
		return badRequest(InvalidValue, "%s must be an object", SchemaExtension)
	}
	for _, f := range fields {
		if !strings.EqualFold(f.Key, "orgRole") {
			return badRequest(InvalidPath, "%s has no attribute %q", SchemaExtension, f.Key)
		}
		if err := patchUserAttr(u, op, path{attr: "orgrole"}, f.Value); err != nil {
			return err
		}
	}
	return nil
}

// resolveUserPath checks a PATCH path against the User attributes (an allow-list).
func resolveUserPath(s string) (userTarget, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, SchemaUser):
		return userTarget{kind: targetCore}, nil
	case strings.EqualFold(s, SchemaExtension):
		return userTarget{kind: targetExtension}, nil
	case strings.EqualFold(s, SchemaEnterpriseUser):
		return userTarget{kind: targetIgnored}, nil
	}
	if rest, ok := cutPrefixFold(s, SchemaExtension+":"); ok {
		if !strings.EqualFold(rest, "orgRole") {
			return userTarget{}, badRequest(InvalidPath, "%s has no attribute %q", SchemaExtension, rest)
		}
		return userTarget{path: path{attr: "orgrole"}}, nil
	}
	if _, ok := cutPrefixFold(s, SchemaEnterpriseUser+":"); ok {
		return userTarget{kind: targetIgnored}, nil
	}
	if rest, ok := cutPrefixFold(s, SchemaUser+":"); ok {
		s = rest
	} else if _, urn := cutPrefixFold(s, "urn:"); urn {
		return userTarget{}, badRequest(InvalidPath, "Unknown schema in path %q", s)
	}
	p, err := parsePath(s)
	if err != nil {
		return userTarget{}, err
	}
	plain := p.sub == "" && p.expr == nil
	switch p.attr {
	case "sentryorgrole":
		p.attr = "orgrole"
		fallthrough
	case "active", "username", "externalid", "displayname", "orgrole":
		if plain {
			return userTarget{path: p}, nil
		}
	case "name":
		switch p.sub {
		case "", "givenname", "familyname", "formatted":
			if p.expr == nil {
				return userTarget{path: p}, nil
			}
		case "middlename", "honorificprefix", "honorificsuffix":
			if p.expr == nil {
				return userTarget{kind: targetIgnored}, nil
			}
		}
	case "emails":
		switch p.sub {
		case "", "value", "type", "primary":
			return userTarget{path: p}, nil
		case "display":
			return userTarget{kind: targetIgnored}, nil
		}
	case "id", "meta", "groups":
		return userTarget{}, badRequest(Mutability, "%s is read-only", s)
	default:
		if ignoredUserAttrs[p.attr] {
			return userTarget{kind: targetIgnored}, nil
		}
		return userTarget{}, badRequest(InvalidPath, "Unknown attribute %q", s)
	}
	return userTarget{}, badRequest(InvalidPath, "Invalid path %q", s)
}

// patchUserAttr applies op to one resolved attribute of u.
func patchUserAttr(u *User, op string, p path, value json.RawMessage) error {
	remove := op == "remove"
	switch p.attr {
	case "active":
		if remove {
			return badRequest(Mutability, "active cannot be removed (replace it with false)")
		}
		b, ok := boolValue(value)
		if !ok {
			return badRequest(InvalidValue, "active must be a boolean")
		}
		u.Active = b
	case "username":
		if remove {
			return badRequest(Mutability, "userName is required and cannot be removed")
		}
		s, ok := stringValue(value)
		if !ok || strings.TrimSpace(s) == "" {
			return badRequest(InvalidValue, "userName must be a non-empty string")
		}
		u.UserName = strings.TrimSpace(s)
	case "externalid", "displayname", "orgrole":
		dst := map[string]*string{"externalid": &u.ExternalID, "displayname": &u.DisplayName, "orgrole": &u.OrgRole}[p.attr]
		if remove {
			*dst = ""
			return nil
		}
		s, err := stringAttr(attrNames[p.attr], value)
		if err != nil {
			return err
		}
		if p.attr == "orgrole" {
			s = strings.TrimSpace(s)
		}
		*dst = s
	case "name":
		return patchName(u, op, p.sub, value)
	case "emails":
		return patchEmails(u, op, p, value)
	}
	return nil
}

func patchName(u *User, op, sub string, value json.RawMessage) error {
	if sub == "" {
		if op == "remove" || isNull(value) {
			u.Name = Name{}
			return nil
		}
		fields, ok := objectFields(value)
		if !ok {
			return badRequest(InvalidValue, "name must be an object")
		}
		// add and replace on a complex attribute both set the sub-attributes given and
		// leave the others (RFC 7644 §3.5.2.1, §3.5.2.3).
		return mergeName(&u.Name, fields)
	}
	dst := map[string]*string{"givenname": &u.Name.GivenName, "familyname": &u.Name.FamilyName, "formatted": &u.Name.Formatted}[sub]
	if op == "remove" {
		*dst = ""
		return nil
	}
	s, err := stringAttr("name."+attrNames[sub], value)
	if err != nil {
		return err
	}
	*dst = s
	return nil
}

func patchEmails(u *User, op string, p path, value json.RawMessage) error {
	if p.expr == nil && p.sub == "" {
		if op == "remove" {
			u.Emails = nil
			return nil
		}
		emails, err := parseEmails(value)
		if err != nil {
			return err
		}
		if op == "replace" {
			u.Emails = emails
			return nil
		}
		for _, e := range emails { // add: a value already there is updated, not repeated
			i := slices.IndexFunc(u.Emails, func(x Email) bool { return strings.EqualFold(x.Value, e.Value) })
			if i < 0 {
				u.Emails = append(u.Emails, e)
				i = len(u.Emails) - 1
			} else if e.Type != "" {
				u.Emails[i].Type = e.Type
			}
			if e.Primary {
				u.Emails[i].Primary = true
				u.Emails = onePrimary(u.Emails, i)
			}
		}
		return nil
	}

	var matches []int
	for i, e := range u.Emails {
		ok, err := matchEmail(p.expr, e)
		if err != nil {
			return err
		}
		if ok {
			matches = append(matches, i)
		}
	}
	clearing := op == "remove"
	if p.sub == "value" && !clearing {
		if s, ok := stringValue(value); ok && strings.TrimSpace(s) == "" {
			clearing = true // "value": null or "" on emails[…].value removes that email
		}
	}
	if clearing {
		switch p.sub {
		case "type":
			for _, i := range matches {
				u.Emails[i].Type = ""
			}
		case "primary":
			for _, i := range matches {
				u.Emails[i].Primary = false
			}
		default:
			u.Emails = slices.DeleteFunc(u.Emails, func(e Email) bool {
				ok, _ := matchEmail(p.expr, e)
				return ok
			})
			if len(u.Emails) == 0 {
				u.Emails = nil
			}
		}
		return nil
	}

	if len(matches) == 0 {
		e, ok := emailFromFilter(p.expr)
		if !ok {
			return badRequest(NoTarget, "No email matches %s", filterString(p.expr))
		}
		e.Primary = e.Primary || len(u.Emails) == 0
		u.Emails = append(u.Emails, e)
		matches = []int{len(u.Emails) - 1}
	}
	keep := -1
	for _, i := range matches {
		e := &u.Emails[i]
		switch p.sub {
		case "":
			fields, ok := objectFields(value)
			if !ok {
				return badRequest(InvalidValue, "The value of an email must be an object")
			}
			set, err := parseEmail(value)
			if err != nil {
				return err
			}
			for _, f := range fields {
				switch strings.ToLower(f.Key) {
				case "value":
					e.Value = set.Value
				case "type":
					e.Type = set.Type
				case "primary":
					e.Primary = set.Primary
				}
			}
		case "value":
			s, _ := stringValue(value)
			if !isKind(value, '"') {
				return badRequest(InvalidValue, "emails.value must be a string")
			}
			e.Value = strings.TrimSpace(s)
		case "type":
			s, err := stringAttr("emails.type", value)
			if err != nil {
				return err
			}
			e.Type = strings.ToLower(strings.TrimSpace(s))
		case "primary":
			b, ok := boolValue(value)
			if !ok {
				return badRequest(InvalidValue, "emails.primary must be a boolean")
			}
			e.Primary = b
		}
		if e.Primary && keep < 0 {
			keep = i
		}
	}
	u.Emails = onePrimary(u.Emails, keep)
	return nil
}

// matchEmail evaluates a PATCH filter on one email (value, type, display compare
// without case; primary is a boolean). nil matches every email.
func matchEmail(expr filter.Expression, e Email) (bool, error) {
	switch x := expr.(type) {
	case nil:
		return true, nil
	case *filter.LogicalExpression:
		l, err := matchEmail(x.Left, e)
		if err != nil {
			return false, err
		}
		r, err := matchEmail(x.Right, e)
		if err != nil {
			return false, err
		}
		if x.Operator == filter.AND {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		ok, err := matchEmail(x.Expression, e)
		return !ok, err
	case *filter.AttributeExpression:
		if x.AttributePath.URIPrefix != nil || x.AttributePath.SubAttribute != nil {
			break
		}
		op := filter.CompareOperator(strings.ToLower(string(x.Operator)))
		switch strings.ToLower(x.AttributePath.AttributeName) {
		case "primary":
			if op == filter.PR {
				return true, nil
			}
			b, ok := filterBool(x.CompareValue)
			if !ok || (op != filter.EQ && op != filter.NE) {
				break
			}
			return (e.Primary == b) == (op == filter.EQ), nil
		case "value", "type", "display":
			have := map[string]string{"value": e.Value, "type": e.Type}[strings.ToLower(x.AttributePath.AttributeName)]
			return matchText(op, strings.ToLower(have), x.CompareValue)
		}
	}
	return false, badRequest(InvalidPath, "Unsupported email filter %s", filterString(expr))
}

func matchText(op filter.CompareOperator, have string, v any) (bool, error) {
	if op == filter.PR {
		return have != "", nil
	}
	want, ok := filterText(v)
	if !ok {
		return false, badRequest(InvalidPath, "Email filters compare with strings")
	}
	want = strings.ToLower(want)
	switch op {
	case filter.EQ:
		return have == want, nil
	case filter.NE:
		return have != want, nil
	case filter.CO:
		return strings.Contains(have, want), nil
	case filter.SW:
		return strings.HasPrefix(have, want), nil
	case filter.EW:
		return strings.HasSuffix(have, want), nil
	case filter.GT:
		return have > want, nil
	case filter.GE:
		return have >= want, nil
	case filter.LT:
		return have < want, nil
	case filter.LE:
		return have <= want, nil
	}
	return false, badRequest(InvalidPath, "Unknown operator %q", op)
}

// emailFromFilter builds the email a filter of eq comparisons joined by "and"
// describes (type eq "work" → {Type: "work"}); ok is false for any other filter.
func emailFromFilter(expr filter.Expression) (e Email, ok bool) {
	var walk func(filter.Expression) bool
	walk = func(x filter.Expression) bool {
		switch x := x.(type) {
		case *filter.LogicalExpression:
			return x.Operator == filter.AND && walk(x.Left) && walk(x.Right)
		case *filter.AttributeExpression:
			if !strings.EqualFold(string(x.Operator), string(filter.EQ)) || x.AttributePath.SubAttribute != nil {
				return false
			}
			switch strings.ToLower(x.AttributePath.AttributeName) {
			case "type":
				s, ok := filterText(x.CompareValue)
				e.Type = strings.ToLower(s)
				return ok
			case "value":
				s, ok := filterText(x.CompareValue)
				e.Value = s
				return ok
			case "primary":
				b, ok := filterBool(x.CompareValue)
				e.Primary = b
				return ok
			}
		}
		return false
	}
	return e, walk(expr)
}

// filterString is a filter as text for error details.
func filterString(expr filter.Expression) string {
	if s, ok := expr.(fmt.Stringer); ok {
		return "[" + s.String() + "]"
	}
	return "the filter"
}
