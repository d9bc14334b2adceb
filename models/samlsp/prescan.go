package samlsp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Pre-scan limits (SECURITY.md §2).
const (
	MaxDepth      = 64
	MaxElements   = 10000
	MaxTextLength = 64 << 10
)

// ErrMalformed wraps every refusal of the pre-scan.
var ErrMalformed = errors.New("malformed SAML message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// scanLimits walks a document with encoding/xml (which resolves namespaces, so names
// below are URIs) before any other parser sees it and
// refuses directives (DOCTYPE, ENTITY), processing instructions other than the XML
// declaration, non-UTF-8 encodings, invalid UTF-8 and oversized or too deep
// documents. visit is called for each start element with its depth (root = 1) and
// its parent's name.
func scanLimits(doc []byte, visit func(el xml.StartElement, depth int, parent xml.Name) error, done func() error) error {
	// A UTF-8 byte order mark may start a document (Entra ID serves its federation
	// metadata with one); encoding/xml would report it as text outside the root.
	doc = bytes.TrimPrefix(doc, utf8BOM)
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	// A CharsetReader that refuses everything: only UTF-8 (the default) is decoded.
	dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, malformed("encoding %q is not UTF-8", charset)
	}
	var stack []xml.Name
	elements, sawRoot := 0, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				return err
			}
			return malformed("not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return malformed("XML directives (DOCTYPE, ENTITY) are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || sawRoot || elements > 0 {
				return malformed("processing instruction %q is not allowed", t.Target)
			}
			if enc := declaredEncoding(string(t.Inst)); enc != "" && !strings.EqualFold(enc, "utf-8") {
				return malformed("encoding %q is not UTF-8", enc)
			}
		case xml.StartElement:
			if len(stack) == 0 && sawRoot {
				return malformed("more than one root element")
			}
			sawRoot = true
			elements++
			if elements > MaxElements {
				return malformed("more than %d elements", MaxElements)
			}
			if len(stack)+1 > MaxDepth {
				return malformed("nesting deeper than %d", MaxDepth)
			}
			var parent xml.Name
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			if err := visit(t, len(stack)+1, parent); err != nil {
				return err
			}
			stack = append(stack, t.Name)
		case xml.EndElement:
			if len(stack) == 0 {
				return malformed("unbalanced end element")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(t) > MaxTextLength {
				return malformed("a text node is longer than %d bytes", MaxTextLength)
			}
			if len(stack) == 0 && len(bytes.TrimSpace(t)) > 0 {
				return malformed("text outside the root element")
			}
		}
	}
	if !sawRoot {
		return malformed("empty document")
	}
	if done != nil {
		return done()
	}
	return nil
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
	assertions := 0
	return scanLimits(doc, func(el xml.StartElement, depth int, parent xml.Name) error {
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

// encryptedAssertion reports whether a pre-scanned response carries its assertion as
// an EncryptedAssertion.
func encryptedAssertion(doc []byte) bool {
	found := false
	_ = scanLimits(doc, func(el xml.StartElement, depth int, _ xml.Name) error {
		if depth == 2 && el.Name.Space == nsAssertion && el.Name.Local == "EncryptedAssertion" {
			found = true
		}
		return nil
	}, nil)
	return found
}
