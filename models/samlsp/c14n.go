package samlsp

import (
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Exclusive XML canonicalisation (exc-c14n 1.0, without comments) written straight
// from the parsed tree to a hash or a buffer.
//
// The signature path used goxmldsig's canonicaliser on a detached copy of the signed
// element: a copy of the subtree, a copy of the namespace map at every element, the
// subtree copied again to serialise it. Above about 1,000 attributes that was half of
// validation (issue 12). This writer produces the same bytes in one walk of the tree,
// with one namespace map and an undo log. "The same bytes" means goxmldsig v1.6.1's,
// quirks included (its attribute order, its initial default namespace): the
// differential test TestExcC14nMatchesGoxmldsig and the fuzz target FuzzExcC14n
// compare every corpus document, and every element of it, against the library.

// Namespace prefixes and names goxmldsig's canonicaliser starts from.
const (
	xmlnsPrefix    = "xmlns"
	xmlPrefix      = "xml"
	xmlNamespace   = etreeutils.XMLNamespace
	xmlnsNamespace = etreeutils.XMLNSNamespace
)

var errC14nTree = errors.New("canonicalization: unexpected node in the tree")

// nsScope is a prefix → namespace map with an undo log: entering an element records
// what its declarations replace, leaving it restores that (no copy per element).
type nsScope struct {
	m    map[string]string
	undo []nsUndo
}

type nsUndo struct {
	prefix, old string
	had         bool
}

// newScope is goxmldsig's default context: xml and xmlns bound, and the default
// namespace bound to the XML namespace (so an undeclared default is never written).
func newScope() nsScope {
	return nsScope{m: map[string]string{"": xmlNamespace, xmlPrefix: xmlNamespace, xmlnsPrefix: xmlnsNamespace}}
}

func (s *nsScope) mark() int { return len(s.undo) }

func (s *nsScope) set(prefix, uri string) {
	old, had := s.m[prefix]
	s.undo = append(s.undo, nsUndo{prefix: prefix, old: old, had: had})
	s.m[prefix] = uri
}

func (s *nsScope) restore(mark int) {
	for i := len(s.undo) - 1; i >= mark; i-- {
		u := s.undo[i]
		if u.had {
			s.m[u.prefix] = u.old
		} else {
			delete(s.m, u.prefix)
		}
	}
	s.undo = s.undo[:mark]
}

// declareOwn adds el's namespace declarations to s, refusing what goxmldsig's
// NSContext.SubContext refuses.
func (s *nsScope) declareOwn(el *etree.Element) error {
	for _, a := range el.Attr {
		switch {
		case a.Space == xmlnsPrefix:
			if (a.Key == xmlPrefix && a.Value != xmlNamespace) || a.Key == xmlnsPrefix {
				return etreeutils.ErrReservedNamespace
			}
			s.set(a.Key, a.Value)
		case a.Space == "" && a.Key == xmlnsPrefix:
			if a.Value == xmlnsNamespace {
				return etreeutils.ErrInvalidDefaultNamespace
			}
			s.set("", a.Value)
		}
	}
	return nil
}

// excC14n writes el's exclusive canonical form to w, as goxmldsig's
// MakeC14N10ExclusiveCanonicalizerWithPrefixList(prefixList).Canonicalize would for
// a copy of el detached from its document (every namespace in scope declared on the
// copy), with the direct children in leave left out (the enveloped Signature).
func excC14n(w io.Writer, el *etree.Element, prefixList string, leave []*etree.Element) error {
	c := &c14nWriter{out: w, buf: make([]byte, 0, 4096), scope: newScope(), declared: newScope(), leave: leave}
	c.inclusive = strings.Fields(prefixList)
	// The namespaces in scope at el: its ancestors' declarations, outermost first, then
	// its own (goxmldsig's NSBuildParentContext, then SubContext).
	var chain []*etree.Element
	for p := el; p != nil; p = p.Parent() {
		chain = append(chain, p)
	}
	inScope := newScope()
	for i := len(chain) - 1; i >= 0; i-- {
		if err := inScope.declareOwn(chain[i]); err != nil {
			return err
		}
	}
	// The detached copy declares all of them (but xml, xmlns, and a default namespace
	// still bound to the XML namespace) on itself.
	var rootDecls []etree.Attr
	for prefix, uri := range inScope.m {
		switch {
		case prefix == xmlnsPrefix || prefix == xmlPrefix:
		case prefix == "" && uri == xmlNamespace:
		case prefix == "":
			rootDecls = append(rootDecls, etree.Attr{Key: xmlnsPrefix, Value: uri})
		default:
			rootDecls = append(rootDecls, etree.Attr{Space: xmlnsPrefix, Key: prefix, Value: uri})
		}
	}
	slices.SortFunc(rootDecls, func(a, b etree.Attr) int { return strings.Compare(a.Key, b.Key) })
	if err := c.element(el, rootDecls, true); err != nil {
		return err
	}
	return c.flush()
}

type c14nWriter struct {
	out             io.Writer
	buf             []byte
	err             error
	scope, declared nsScope
	inclusive       []string
	leave           []*etree.Element
	attrs           []etree.Attr // scratch: one element's output attributes
	used            []string     // scratch: one element's visibly utilised prefixes
}

func (c *c14nWriter) flush() error {
	if c.err == nil && len(c.buf) > 0 {
		_, c.err = c.out.Write(c.buf)
	}
	c.buf = c.buf[:0]
	return c.err
}

func (c *c14nWriter) write(s string) {
	c.buf = append(c.buf, s...)
	if len(c.buf) >= 4096 {
		c.flush()
	}
}

func (c *c14nWriter) name(space, local string) {
	if space != "" {
		c.write(space)
		c.write(":")
	}
	c.write(local)
}

func (c *c14nWriter) inclusivePrefix(p string) bool { return slices.Contains(c.inclusive, p) }

func (c *c14nWriter) use(prefix string) {
	if !slices.Contains(c.used, prefix) {
		c.used = append(c.used, prefix)
	}
}

// element writes el. For the root, decls are the namespace declarations of the
// detached copy (they replace el's own).
func (c *c14nWriter) element(el *etree.Element, decls []etree.Attr, root bool) error {
	scopeMark, declaredMark := c.scope.mark(), c.declared.mark()
	defer func() {
		c.scope.restore(scopeMark)
		c.declared.restore(declaredMark)
	}()
	own := el.Attr
	if root {
		for _, d := range decls {
			if d.Space == xmlnsPrefix {
				c.scope.set(d.Key, d.Value)
			} else {
				c.scope.set("", d.Value)
			}
		}
	} else if err := c.scope.declareOwn(el); err != nil {
		return err
	}
	// Visibly utilised prefixes: the element's, its prefixed attributes', and those of
	// its declarations named in the InclusiveNamespaces PrefixList.
	c.used = append(c.used[:0], el.Space)
	c.attrs = c.attrs[:0]
	nsDecl := func(a etree.Attr) {
		if a.Space == xmlnsPrefix {
			if c.inclusivePrefix(a.Key) {
				c.use(a.Key)
			}
		} else if c.inclusivePrefix("") {
			c.use("")
		}
	}
	if root {
		for _, d := range decls {
			nsDecl(d)
		}
	}
	for _, a := range own {
		switch {
		case a.Space == xmlnsPrefix || (a.Space == "" && a.Key == xmlnsPrefix):
			if !root {
				nsDecl(a)
			}
		default:
			if a.Space != "" {
				c.use(a.Space)
			}
			c.attrs = append(c.attrs, a)
		}
	}
	// Declare each one that is in scope but not yet declared, with that value, in the
	// output.
	for _, prefix := range c.used {
		if d, ok := c.declared.m[prefix]; ok {
			if v, ok := c.scope.m[prefix]; ok && d == v {
				continue
			}
		}
		uri, ok := c.scope.m[prefix]
		if !ok {
			return etreeutils.ErrUndeclaredNSPrefix{Prefix: prefix}
		}
		c.declared.set(prefix, uri)
		if prefix == "" {
			c.attrs = append(c.attrs, etree.Attr{Key: xmlnsPrefix, Value: uri})
		} else {
			c.attrs = append(c.attrs, etree.Attr{Space: xmlnsPrefix, Key: prefix, Value: uri})
		}
	}
	sort.Stable(etreeutils.SortedAttrs(c.attrs))

	c.write("<")
	c.name(el.Space, el.Tag)
	for _, a := range c.attrs {
		c.write(" ")
		c.name(a.Space, a.Key)
		c.write(`="`)
		c.escape(a.Value, true)
		c.write(`"`)
	}
	c.write(">")
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root && slices.Contains(c.leave, t) {
				continue
			}
			if err := c.element(t, nil, false); err != nil {
				return err
			}
		case *etree.CharData:
			if t.IsCData() {
				return errC14nTree
			}
			c.escape(t.Data, false)
		case *etree.Comment:
		default:
			return errC14nTree
		}
	}
	c.write("</")
	c.name(el.Space, el.Tag)
	c.write(">")
	return c.err
}

// escape writes s escaped as etree's canonical writer does: text escapes &, <, > and
// CR; attribute values &, <, ", TAB, LF and CR; a character outside XML's range (or a
// byte that is not UTF-8) becomes U+FFFD.
func (c *c14nWriter) escape(s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		var esc string
		switch r {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			if attr {
				continue
			}
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !inXMLCharRange(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
				break
			}
			continue
		}
		c.write(s[last : i-width])
		c.write(esc)
		last = i
	}
	c.write(s[last:])
}

// inXMLCharRange is XML 1.0's Char production (as etree's isInCharacterRange).
func inXMLCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
