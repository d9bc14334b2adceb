package samlsp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// Pre-scan limits (SECURITY.md §2). MaxAttributes and MaxNamespaces keep everything
// after the scan linear in the document's size: the duplicate-attribute check, etree's
// attribute lookups and the canonical attribute sort are quadratic per element, and the
// canonicaliser declares every prefix in scope on the signed element. Responses from
// real IdPs have at most 8 attributes on an element and 5 prefixes in scope.
const (
	MaxDepth      = 64
	MaxElements   = 10000
	MaxTextLength = 64 << 10
	MaxAttributes = 64
	MaxNamespaces = 64
)

// ErrMalformed wraps every refusal of the pre-scan.
var ErrMalformed = errors.New("malformed SAML message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// scanLimits walks a document with encoding/xml before any other parser sees it and
// refuses directives (DOCTYPE, ENTITY), processing instructions other than the XML
// declaration, non-UTF-8 encodings, invalid UTF-8, undeclared namespace prefixes,
// duplicate attributes, mismatched end tags and oversized or too deep documents.
// visit is called for each start element with its depth (root = 1) and its parent's
// name; names are resolved (Space is the namespace URI, never a prefix).
func scanLimits(doc []byte, visit func(el xml.StartElement, depth int, parent xml.Name) error, done func() error) error {
	_, err := scan(doc, false, visit, done)
	return err
}

// scopeEntry is one element of the scan's stack: its raw name (to match the end tag),
// its resolved name, and where its namespace declarations start in the scope's undo
// log (leaving the element restores the bindings its parent had).
type scopeEntry struct {
	raw, name xml.Name
	nsMark    int
	el        *etree.Element
}

// scan is scanLimits; with build it also returns the document as an etree tree (the
// single parse of the single-parse path: the tree is built from the very tokens the
// limits were checked on, without comments).
func scan(doc []byte, build bool, visit func(el xml.StartElement, depth int, parent xml.Name) error, done func() error) (*etree.Element, error) {
	// A UTF-8 byte order mark may start a document (Entra ID serves its federation
	// metadata with one); encoding/xml would report it as text outside the root.
	doc = bytes.TrimPrefix(doc, utf8BOM)
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	// A CharsetReader that refuses everything: only UTF-8 (the default) is decoded.
	dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, malformed("encoding %q is not UTF-8", charset)
	}
	ns := nsScope{m: map[string]string{xmlPrefix: xmlNamespace}}
	var stack []scopeEntry
	var tree *etree.Document
	if build {
		tree = etree.NewDocument()
	}
	elements, sawRoot := 0, false
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				return nil, err
			}
			return nil, malformed("not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, malformed("XML directives (DOCTYPE, ENTITY) are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || sawRoot || elements > 0 {
				return nil, malformed("processing instruction %q is not allowed", t.Target)
			}
			if enc := declaredEncoding(string(t.Inst)); enc != "" && !strings.EqualFold(enc, "utf-8") {
				return nil, malformed("encoding %q is not UTF-8", enc)
			}
		case xml.StartElement:
			if len(stack) == 0 && sawRoot {
				return nil, malformed("more than one root element")
			}
			sawRoot = true
			elements++
			if elements > MaxElements {
				return nil, malformed("more than %d elements", MaxElements)
			}
			if len(stack)+1 > MaxDepth {
				return nil, malformed("nesting deeper than %d", MaxDepth)
			}
			if len(t.Attr) > MaxAttributes {
				return nil, malformed("more than %d attributes on an element", MaxAttributes)
			}
			var parent scopeEntry
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			// Namespace declarations of this element.
			nsMark := ns.mark()
			for _, a := range t.Attr {
				var prefix string
				switch {
				case a.Name.Space == "xmlns":
					prefix = a.Name.Local
					if a.Value == "" || prefix == xmlnsPrefix || (prefix == xmlPrefix) != (a.Value == xmlNamespace) {
						return nil, malformed("invalid declaration of namespace prefix %q", prefix)
					}
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					prefix = ""
				default:
					continue
				}
				ns.set(prefix, a.Value)
			}
			if len(ns.m)-1 > MaxNamespaces { // xml is always bound
				return nil, malformed("more than %d namespace prefixes in scope", MaxNamespaces)
			}
			resolve := func(n xml.Name, isAttr bool) (xml.Name, error) {
				if n.Space == "" {
					if isAttr {
						return xml.Name{Local: n.Local}, nil
					}
					return xml.Name{Space: ns.m[""], Local: n.Local}, nil
				}
				uri, ok := ns.m[n.Space]
				if !ok {
					return xml.Name{}, malformed("undeclared namespace prefix %q", n.Space)
				}
				return xml.Name{Space: uri, Local: n.Local}, nil
			}
			name, err := resolve(t.Name, false)
			if err != nil {
				return nil, err
			}
			var attrs []xml.Name
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					attrs = append(attrs, xml.Name{Space: "xmlns", Local: a.Name.Local})
					continue
				}
				an, err := resolve(a.Name, true)
				if err != nil {
					return nil, err
				}
				attrs = append(attrs, an)
			}
			for i, a := range attrs {
				for _, b := range attrs[:i] {
					if a == b {
						return nil, malformed("duplicate attribute %s", a.Local)
					}
				}
			}
			if err := visit(xml.StartElement{Name: name}, len(stack)+1, parent.name); err != nil {
				return nil, err
			}
			entry := scopeEntry{raw: t.Name, name: name, nsMark: nsMark}
			if build {
				el := etree.NewElement(t.Name.Local)
				el.Space = t.Name.Space
				for _, a := range t.Attr {
					key := a.Name.Local
					if a.Name.Space != "" {
						key = a.Name.Space + ":" + key
					}
					el.CreateAttr(key, a.Value)
				}
				if parent.el != nil {
					parent.el.AddChild(el)
				} else {
					tree.AddChild(el)
				}
				entry.el = el
			}
			stack = append(stack, entry)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, malformed("unbalanced end element")
			}
			top := stack[len(stack)-1]
			if top.raw != t.Name {
				return nil, malformed("not well-formed XML: element %s closed by %s", top.raw.Local, t.Name.Local)
			}
			ns.restore(top.nsMark)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(t) > MaxTextLength {
				return nil, malformed("a text node is longer than %d bytes", MaxTextLength)
			}
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, malformed("text outside the root element")
				}
				continue
			}
			if build {
				stack[len(stack)-1].el.CreateText(string(t))
			}
		}
	}
	if !sawRoot {
		return nil, malformed("empty document")
	}
	if len(stack) != 0 {
		return nil, malformed("not well-formed XML: unclosed element %s", stack[len(stack)-1].raw.Local)
	}
	if done != nil {
		if err := done(); err != nil {
			return nil, err
		}
	}
	if build {
		return tree.Root(), nil
	}
	return nil, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

func declaredEncoding(inst string) string {
	i := strings.Index(inst, "encoding=")
	if i < 0 {
		return ""
	}
	v := inst[i+len("encoding="):]
	if len(v) < 2 {
		return v
	}
	q := v[0]
	if q != '"' && q != '\'' {
		return v
	}
	if j := strings.IndexByte(v[1:], q); j >= 0 {
		return v[1 : 1+j]
	}
	return v
}

// PreScanResponse applies the limits and the shape rules of a SAML Response: the root
// is samlp:Response; exactly one Assertion or EncryptedAssertion, as a direct child;
// no Assertion anywhere else; ds:Signature only directly under the Response or that
// Assertion.
func PreScanResponse(doc []byte) error {
	_, err := preScanResponse(doc, false)
	return err
}

// preScanResponse is PreScanResponse; with build it returns the tree too.
func preScanResponse(doc []byte, build bool) (*etree.Element, error) {
	assertions := 0
	return scan(doc, build, func(el xml.StartElement, depth int, parent xml.Name) error {
		switch {
		case depth == 1:
			if el.Name.Space != nsProtocol || el.Name.Local != "Response" {
				return malformed("the root element is {%s}%s, not a SAML Response", el.Name.Space, el.Name.Local)
			}
		case el.Name.Space == nsAssertion && (el.Name.Local == "Assertion" || el.Name.Local == "EncryptedAssertion"):
			if depth != 2 {
				return malformed("an assertion is nested inside %s", parent.Local)
			}
			assertions++
			if assertions > 1 {
				return malformed("more than one assertion")
			}
		case el.Name.Space == nsDSig && el.Name.Local == "Signature":
			if !(depth == 2 || (depth == 3 && parent.Space == nsAssertion && parent.Local == "Assertion")) {
				return malformed("a signature inside %s", parent.Local)
			}
		}
		return nil
	}, func() error {
		if assertions != 1 {
			return malformed("no assertion")
		}
		return nil
	})
}

// PreScanLogoutRequest applies the limits and requires a samlp:LogoutRequest root with
// signatures only directly under it.
func PreScanLogoutRequest(doc []byte) error {
	return scanLimits(doc, func(el xml.StartElement, depth int, parent xml.Name) error {
		if depth == 1 && (el.Name.Space != nsProtocol || el.Name.Local != "LogoutRequest") {
			return malformed("the root element is not a LogoutRequest")
		}
		if el.Name.Space == nsDSig && el.Name.Local == "Signature" && depth != 2 {
			return malformed("a signature inside %s", parent.Local)
		}
		return nil
	}, nil)
}

// PreScanMetadata applies the limits to metadata (no shape rules: parsing checks them).
func PreScanMetadata(doc []byte) error {
	return scanLimits(doc, func(xml.StartElement, int, xml.Name) error { return nil }, nil)
}
