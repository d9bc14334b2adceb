package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// field is one member of a JSON object, in document order (so that a later key wins
// and path-less PATCH values apply predictably).
type field struct {
	Key   string
	Value json.RawMessage
}

// objectFields decodes raw as a JSON object; ok is false when raw is not an object.
func objectFields(raw json.RawMessage) (fields []field, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, isString := tok.(string)
		if !isString {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		fields = append(fields, field{Key: key, Value: v})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return fields, true
}

// arrayItems decodes raw as a JSON array; ok is false when raw is not an array.
func arrayItems(raw json.RawMessage) (items []json.RawMessage, ok bool) {
	if !isKind(raw, '[') {
		return nil, false
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false
	}
	return items, true
}

// isKind reports whether raw starts (after white space) with c: '{', '[', '"'.
func isKind(raw json.RawMessage, c byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == c
}

// isNull reports whether raw is absent or the JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// stringValue reads a JSON string; null gives ("", true). Numbers are accepted as their
// text (an id sent as 5 instead of "5"); anything else is not a string.
func stringValue(raw json.RawMessage) (s string, ok bool) {
	if isNull(raw) {
		return "", true
	}
	if isKind(raw, '"') {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		return n.String(), true
	}
	return "", false
}

// boolValue reads a JSON boolean or a string holding one in any case ("True",
// "false"): Entra sends "False" without the aadOptscim062020 flag.
func boolValue(raw json.RawMessage) (b bool, ok bool) {
	if isNull(raw) {
		return false, false
	}
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// lookup returns the value of the first field whose key equals name in any case
// (attribute names are case-insensitive, RFC 7643 §2.1).
func lookup(fields []field, name string) (json.RawMessage, bool) {
	var out json.RawMessage
	found := false
	for _, f := range fields {
		if strings.EqualFold(f.Key, name) {
			out, found = f.Value, true // the last one wins, as with encoding/json
		}
	}
	return out, found
}
