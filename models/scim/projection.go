package scim

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Projection is a request's attributes or excludedAttributes (RFC 7644 §3.4.2.5, §3.9):
// which attributes a returned resource carries. Names match in any case, may be
// URN-qualified ("urn:…:core:2.0:User:userName", the Gatehouse extension URN or
// "…:User:orgRole") and may name a sub-attribute ("name.givenName", "emails.value"). A
// value filter, which the grammar does not allow there (`emails[type eq "work"]`), is
// read as its attribute. Unknown names select nothing. id and schemas are always
// returned ("returned": "always", RFC 7643 §2.4, §3.1).
type Projection struct {
	include bool      // attributes= (else excludedAttributes=)
	refs    []attrRef // empty: the whole resource
}

type attrRef struct{ attr, sub string } // lower case; attr may be the extension URN

// ParseProjection reads the attributes and excludedAttributes query parameters
// (attributes wins when both are given).
func ParseProjection(attributes, excluded string) Projection {
	list, include := attributes, true
	if strings.TrimSpace(list) == "" {
		list, include = excluded, false
	}
	a := Projection{include: include}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		for { // drop value filters: emails[type eq "work"].value → emails.value
			open := strings.IndexByte(name, '[')
			end := strings.LastIndexByte(name, ']')
			if open < 0 || end < open {
				break
			}
			name = name[:open] + name[end+1:]
		}
		if name == "" {
			continue
		}
		ext := strings.ToLower(SchemaExtension)
		for _, urn := range []string{strings.ToLower(SchemaUser), strings.ToLower(SchemaGroup)} {
			name = strings.TrimPrefix(name, urn+":")
		}
		switch {
		case name == ext:
			a.refs = append(a.refs, attrRef{attr: ext})
		case strings.HasPrefix(name, ext+":"):
			a.refs = append(a.refs, attrRef{attr: ext, sub: strings.TrimPrefix(name, ext+":")})
		case strings.HasPrefix(name, "urn:"):
			// another schema (the enterprise extension …): nothing Gatehouse returns
			a.refs = append(a.refs, attrRef{attr: name})
		default:
			attr, sub, _ := strings.Cut(name, ".")
			a.refs = append(a.refs, attrRef{attr: attr, sub: sub})
		}
	}
	return a
}

// Wants reports whether attribute attr (lower case) is returned, at least in part.
func (a Projection) Wants(attr string) bool {
	if len(a.refs) == 0 {
		return true
	}
	for _, r := range a.refs {
		if r.attr == attr && (a.include || r.sub == "") {
			return a.include
		}
	}
	return !a.include
}

// Apply applies the selection to one resource (a *User, *Group …); the attributes
// kept stay in the resource's order.
func (a Projection) Apply(v any) (any, error) {
	if len(a.refs) == 0 {
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		kept, ok, err := a.keep(key, raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(kept)
	}
	out.WriteByte('}')
	return json.RawMessage(out.Bytes()), nil
}

// keep decides what stays of one top-level attribute: all of it, some of its
// sub-attributes, or nothing (ok false).
func (a Projection) keep(key string, raw json.RawMessage) (json.RawMessage, bool, error) {
	k := strings.ToLower(key)
	if k == "id" || k == "schemas" {
		return raw, true, nil
	}
	whole, subs := false, map[string]bool{}
	for _, r := range a.refs {
		if r.attr != k {
			continue
		}
		if r.sub == "" {
			whole = true
		} else {
			subs[r.sub] = true
		}
	}
	switch {
	case whole:
		return raw, a.include, nil
	case len(subs) == 0:
		return raw, !a.include, nil
	}
	var val any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&val); err != nil {
		return nil, false, err
	}
	kept, ok := keepSubs(val, subs, a.include)
	if !ok {
		return nil, false, nil
	}
	b, err := json.Marshal(kept)
	return b, true, err
}

// keepSubs keeps (keep) or drops the sub-attributes subs of a complex value or of each
// value of a multi-valued one; ok is false when nothing is left.
func keepSubs(val any, subs map[string]bool, keep bool) (any, bool) {
	filter := func(o map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range o {
			if subs[strings.ToLower(k)] == keep {
				out[k] = v
			}
		}
		return out
	}
	switch v := val.(type) {
	case map[string]any:
		o := filter(v)
		return o, len(o) > 0
	case []any:
		var out []any
		for _, item := range v {
			if o, isObj := item.(map[string]any); isObj {
				if f := filter(o); len(f) > 0 {
					out = append(out, f)
				}
			}
		}
		return out, len(out) > 0
	}
	return val, !keep // a simple attribute has no sub-attributes
}
