package samlsp_test

// Hostile responses against ValidateResponse: every row but the controls must be
// refused. The controls (accept: true) are the same constructions without the attack,
// so a row cannot pass because the helpers built something broken.
//
// The XSW rows follow the taxonomy of Somorovsky et al., "On Breaking SAML: Be Whoever
// You Want to Be" (USENIX Security 2012), as SAML Raider names them:
//   XSW1  evil Response; the original signed Response moved inside its Signature
//   XSW2  evil Response; the original signed Response placed before its Signature
//   XSW3  evil Assertion inserted before the signed one (same or another ID)
//   XSW4  evil Assertion wrapping the signed one
//   XSW5  evil Assertion carrying the signature; the signed one appended elsewhere
//   XSW6  evil Assertion carrying the signature, with the signed one inside it
//   XSW7  signed Assertion moved into Extensions, evil Assertion in its place
//   XSW8  evil Assertion whose Signature holds an Object with the original inside

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

const (
	nsSAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsSAML  = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDS    = "http://www.w3.org/2000/09/xmldsig#"
)

// hostile holds the cast of a hostile-response test: our IdP, an attacker's IdP with
// the same entity ID and another key, org A (acme) and org B (beta) registering the
// same IdP, and a frozen clock.
type hostile struct {
	t    *testing.T
	now  time.Time
	idp  *samltest.IdP
	evil *samltest.IdP
	orgA samlsp.Settings
	orgB samlsp.Settings
}

// input is what a row hands to the runner.
type input struct {
	raw       []byte
	encoded   string // when set, goes through DecodeResponse first
	requestID string
	settings  *samlsp.Settings // defaults to org A
}

// doc is a fresh response, round-tripped through bytes: crewjam and goxmldsig append
// children without etree's parent/index bookkeeping, and RemoveChild on such a tree
// can remove the wrong element.
func (h *hostile) doc(o samltest.Options) *etree.Document {
	h.t.Helper()
	return reparse(h.t, h.idp.ResponseDoc(h.t, h.orgA.SP, alice, o))
}

func reparse(t *testing.T, doc *etree.Document) *etree.Document {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	out := etree.NewDocument()
	if err := out.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return out
}

func (h *hostile) bytes(doc *etree.Document) []byte {
	h.t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *hostile) in(doc *etree.Document) input { return input{raw: h.bytes(doc)} }

// child returns el's first direct child {space}local.
func child(el *etree.Element, space, local string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == space {
			return c
		}
	}
	return nil
}

func mustChild(t *testing.T, el *etree.Element, space, local string) *etree.Element {
	t.Helper()
	c := child(el, space, local)
	if c == nil {
		t.Fatalf("%s has no %s", el.Tag, local)
	}
	return c
}

func assertionOf(t *testing.T, doc *etree.Document) *etree.Element {
	t.Helper()
	return mustChild(t, doc.Root(), nsSAML, "Assertion")
}

func nameIDOf(t *testing.T, assertion *etree.Element) *etree.Element {
	t.Helper()
	return mustChild(t, mustChild(t, assertion, nsSAML, "Subject"), nsSAML, "NameID")
}

// unsign removes el's own signature and returns it.
func unsign(el *etree.Element) *etree.Element {
	sig := child(el, nsDS, "Signature")
	if sig != nil {
		detach(sig)
	}
	return sig
}

// detach removes c from its parent, found by identity: goxmldsig appends the Signature
// to Child without setting etree's index, and etree's RemoveChild trusts that index
// (it would remove the Issuer instead).
func detach(c *etree.Element) {
	if p := c.Parent(); p != nil {
		detachFrom(p, c)
	}
}

// detachFrom removes c from p's children (goxmldsig leaves the parent of the
// Signature it appends unset, too).
func detachFrom(p, c *etree.Element) {
	for i, tok := range p.Child {
		if tok == etree.Token(c) {
			p.RemoveChildAt(i)
			return
		}
	}
}

// placeSignature moves el's Signature right after its Issuer, where SAML puts it.
func placeSignature(el *etree.Element) {
	sig := child(el, nsDS, "Signature")
	iss := child(el, nsSAML, "Issuer")
	if sig == nil || iss == nil {
		return
	}
	detachFrom(el, sig)
	el.InsertChildAt(iss.Index()+1, sig)
}

// replace puts repl where old is.
func replace(old, repl *etree.Element) {
	p := old.Parent()
	i := old.Index()
	detach(old)
	detach(repl)
	p.InsertChildAt(i, repl)
}

// resign signs el with the IdP's key (RSA-SHA256, exclusive c14n) in place.
func (h *hostile) resign(el *etree.Element) *etree.Element {
	h.t.Helper()
	return h.resignWith(el, h.idp.Key, h.idp.Cert.Raw, dsig.RSASHA256SignatureMethod)
}

// resignWith signs el in place with key, embedding certDER in KeyInfo, using method
// (which also sets the digest: SHA-1 for RSA-SHA1) — goxmldsig inline, no helper.
func (h *hostile) resignWith(el *etree.Element, key *rsa.PrivateKey, certDER []byte, method string) *etree.Element {
	h.t.Helper()
	unsign(el)
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore{PrivateKey: key, Certificate: [][]byte{certDER}})
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(method); err != nil {
		h.t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		h.t.Fatal(err)
	}
	placeSignature(signed)
	if el.Parent() != nil {
		replace(el, signed)
	}
	return signed
}

// assertionSigned is a response whose Assertion alone is signed (Google, Entra).
func (h *hostile) assertionSigned(o samltest.Options) (*etree.Document, *etree.Element) {
	h.t.Helper()
	doc := h.doc(o)
	unsign(doc.Root())
	return doc, assertionOf(h.t, doc)
}

// editSigned applies edit to the Assertion of an assertion-only-signed response, then
// re-signs the Assertion: a response the IdP itself could have issued.
func (h *hostile) editSigned(o samltest.Options, edit func(a *etree.Element)) input {
	h.t.Helper()
	doc, a := h.assertionSigned(o)
	edit(a)
	h.resign(a)
	return h.in(doc)
}

// evilAssertion is a copy of a with another NameID and no signature.
func evilAssertion(t *testing.T, a *etree.Element, id string) *etree.Element {
	t.Helper()
	e := a.Copy()
	unsign(e)
	if id != "" {
		e.CreateAttr("ID", id)
	}
	nameIDOf(t, e).SetText("admin@victim.example")
	return e
}

func withPrologue(prologue string, raw []byte) []byte {
	return append([]byte(prologue), raw...)
}

// extensions adds a samlp:Extensions element (allowed before Status) to the Response.
func extensions(resp *etree.Element) *etree.Element {
	ext := etree.NewElement("samlp:Extensions")
	resp.InsertChildAt(mustIndexAfterIssuer(resp), ext)
	return ext
}

func mustIndexAfterIssuer(resp *etree.Element) int {
	if iss := child(resp, nsSAML, "Issuer"); iss != nil {
		if sig := child(resp, nsDS, "Signature"); sig != nil {
			return sig.Index() + 1
		}
		return iss.Index() + 1
	}
	return 0
}

type hostileRow struct {
	name  string
	build func(h *hostile) input
	// accept marks a positive control.
	accept bool
	// reasons, when set, are the acceptable ValidationError reasons.
	reasons []string
	// detail, when set, must appear in the refusal's detail.
	detail string
	// check, when set, replaces the default expectation (for rows where either an
	// error or a specific value is right).
	check func(t *testing.T, a *samlsp.Assertion, err error)
}

var (
	rSig  = []string{samlsp.ReasonSignature}
	rMal  = []string{samlsp.ReasonMalformed}
	rCond = []string{samlsp.ReasonConditions}
	rReq  = []string{samlsp.ReasonRequest}
	rInv  = []string{samlsp.ReasonInvalid}
)

func hostileRows() []hostileRow {
	return []hostileRow{
		// ---- positive controls ----
		{name: "control: unaltered response, Response and Assertion signed", accept: true,
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{})) }},
		{name: "control: solicited response with its request ID", accept: true,
			build: func(h *hostile) input {
				in := h.in(h.doc(samltest.Options{InResponseTo: "id-req-1"}))
				in.requestID = "id-req-1"
				return in
			}},
		{name: "control: only the Assertion signed", accept: true,
			build: func(h *hostile) input { doc, _ := h.assertionSigned(samltest.Options{}); return h.in(doc) }},
		{name: "control: only the Response signed", accept: true,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				unsign(assertionOf(h.t, doc))
				h.resign(doc.Root())
				return h.in(doc)
			}},
		{name: "control: Assertion re-signed by the test helper", accept: true,
			build: func(h *hostile) input { return h.editSigned(samltest.Options{}, func(*etree.Element) {}) }},
		{name: "control: no KeyInfo, the configured certificate verifies", accept: true,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				sig := mustChild(h.t, a, nsDS, "Signature")
				detach(mustChild(h.t, sig, nsDS, "KeyInfo"))
				return h.in(doc)
			}},
		{name: "control: IssueInstant 2 minutes ahead (within the skew, re-signed)", accept: true,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					a.Parent().CreateAttr("IssueInstant", stamp(h.now.Add(2*time.Minute)))
					a.CreateAttr("IssueInstant", stamp(h.now.Add(2*time.Minute)))
				})
			}},
		{name: "control: lifetime 59 minutes", accept: true,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { setLifetime(h, a, 59*time.Minute) })
			}},
		{name: "control: two configured certificates (rollover), no KeyInfo", accept: true,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				sig := mustChild(h.t, a, nsDS, "Signature")
				detach(mustChild(h.t, sig, nsDS, "KeyInfo"))
				s := h.orgA
				s.IdP.Certs = [][]byte{h.evil.Cert.Raw, h.idp.Cert.Raw}
				return input{raw: h.bytes(doc), settings: &s}
			}},
		{name: "control: AudienceRestriction listing another SP, then ours (re-signed)", accept: true,
			// SAML Core §2.5.1.4: a restriction with several Audiences is met by any of
			// them. (crewjam keeps only the last Audience of a restriction, so the
			// reverse order is refused: see the report.)
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					ar := a.FindElement(".//AudienceRestriction")
					other := mustChild(h.t, ar, nsSAML, "Audience").Copy()
					ar.InsertChildAt(0, other)
					other.SetText("https://other.example/sp")
				})
			}},
		{name: "control: comment in the NameID", accept: true,
			// Signed as "a.b@x.example"; the comment is added after signing.
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				nameIDOf(h.t, a).SetText("a.b@x.example")
				a = h.resign(a)
				n := nameIDOf(h.t, a)
				n.SetText("a.b")
				n.CreateComment("")
				n.CreateText("@x.example")
				return h.in(doc)
			},
			check: func(t *testing.T, a *samlsp.Assertion, err error) {
				if err == nil && a.NameID != "a.b@x.example" {
					t.Fatalf("NameID %q", a.NameID)
				}
			}},

		// ---- signatures ----
		{name: "unsigned: Response and Assertion signatures removed", reasons: rSig,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				unsign(doc.Root())
				unsign(assertionOf(h.t, doc))
				return h.in(doc)
			}},
		{name: "unsigned Response, Assertion signature stripped", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				unsign(a)
				return h.in(doc)
			}},
		{name: "Assertion signature stripped, stale Response signature kept", reasons: rSig,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				unsign(assertionOf(h.t, doc))
				return h.in(doc)
			}},
		{name: "NameID changed after signing (Assertion signed)", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				nameIDOf(h.t, a).SetText("admin@victim.example")
				return h.in(doc)
			}},
		{name: "NameID changed after signing (both signed)", reasons: rSig,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				nameIDOf(h.t, assertionOf(h.t, doc)).SetText("admin@victim.example")
				return h.in(doc)
			}},
		{name: "attribute value changed after signing", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				for _, v := range a.FindElements(".//AttributeValue") {
					if v.Text() == "alice@example.com" {
						v.SetText("admin@victim.example")
					}
				}
				return h.in(doc)
			}},
		{name: "attribute added after signing", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				st := mustChild(h.t, a, nsSAML, "AttributeStatement")
				attr := st.CreateElement("saml:Attribute")
				attr.CreateAttr("Name", "role")
				attr.CreateElement("saml:AttributeValue").SetText("owner")
				return h.in(doc)
			}},
		{name: "Response Destination changed after signing (both signed)", reasons: rSig,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{Destination: "https://gatehouse.example/saml/acs/beta/"})
				doc.Root().CreateAttr("Destination", h.orgA.SP.ACSURL)
				in := h.in(doc)
				return in
			}},
		{name: "signed by another key (attacker IdP, same entity ID)", reasons: rSig,
			build: func(h *hostile) input { return input{raw: h.evil.Response(h.t, h.orgA.SP, alice, samltest.Options{})} }},
		{name: "KeyInfo certificate not the configured one (signature by the configured key)", reasons: rSig,
			detail: "not the configured one",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				h.resignWith(a, h.idp.Key, h.evil.Cert.Raw, dsig.RSASHA256SignatureMethod)
				return h.in(doc)
			}},
		{name: "configured certificate in KeyInfo, signed by another key", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				nameIDOf(h.t, a).SetText("admin@victim.example")
				h.resignWith(a, h.evil.Key, h.idp.Cert.Raw, dsig.RSASHA256SignatureMethod)
				return h.in(doc)
			}},
		// The SignatureValue is checked before the digest (verifyDigest): an element whose
		// signature is not by a configured key is refused without being canonicalised, so
		// the refusal names the signature, not the changed content.
		{name: "signed by another key, then changed", reasons: rSig, detail: "does not verify",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				a = h.resignWith(a, h.evil.Key, h.idp.Cert.Raw, dsig.RSASHA256SignatureMethod)
				nameIDOf(h.t, a).SetText("admin@victim.example")
				return h.in(doc)
			}},
		{name: "no KeyInfo, signed by another key", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				a = h.resignWith(a, h.evil.Key, h.evil.Cert.Raw, dsig.RSASHA256SignatureMethod)
				sig := mustChild(h.t, a, nsDS, "Signature")
				detach(mustChild(h.t, sig, nsDS, "KeyInfo"))
				return h.in(doc)
			}},
		{name: "RSA-SHA1 signature and SHA-1 digest", reasons: rSig, detail: "algorithm",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				h.resignWith(a, h.idp.Key, h.idp.Cert.Raw, dsig.RSASHA1SignatureMethod)
				return h.in(doc)
			}},
		{name: "RSA-SHA1 on both Response and Assertion", reasons: rSig, detail: "algorithm",
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				unsign(doc.Root())
				h.resignWith(assertionOf(h.t, doc), h.idp.Key, h.idp.Cert.Raw, dsig.RSASHA1SignatureMethod)
				h.resignWith(doc.Root(), h.idp.Key, h.idp.Cert.Raw, dsig.RSASHA1SignatureMethod)
				return h.in(doc)
			}},
		{name: "SHA-1 digest under an RSA-SHA256 signature", reasons: rSig, detail: "digest algorithm",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				sig := mustChild(h.t, a, nsDS, "Signature")
				dm := sig.FindElement("./SignedInfo/Reference/DigestMethod")
				dm.CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
				return h.in(doc)
			}},
		{name: "second Reference in SignedInfo", reasons: rSig, detail: "exactly one Reference",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				si := mustChild(h.t, mustChild(h.t, a, nsDS, "Signature"), nsDS, "SignedInfo")
				ref := mustChild(h.t, si, nsDS, "Reference").Copy()
				ref.CreateAttr("URI", "#evil")
				si.AddChild(ref)
				return h.in(doc)
			}},
		{name: "Reference URI empty (whole document)", reasons: rSig, detail: "exactly one Reference",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				ref := a.FindElement("./Signature/SignedInfo/Reference")
				ref.CreateAttr("URI", "")
				return h.in(doc)
			}},
		{name: "XPath transform added", reasons: rSig, detail: "transform",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				ts := a.FindElement("./Signature/SignedInfo/Reference/Transforms")
				tr := ts.CreateElement("ds:Transform")
				tr.CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
				tr.CreateElement("ds:XPath").SetText("not(ancestor-or-self::saml:NameID)")
				return h.in(doc)
			}},
		{name: "not enveloped (only exc-c14n transform)", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				ts := a.FindElement("./Signature/SignedInfo/Reference/Transforms")
				for _, tr := range ts.ChildElements() {
					if strings.Contains(tr.SelectAttrValue("Algorithm", ""), "enveloped") {
						detach(tr)
					}
				}
				return h.in(doc)
			}},
		{name: "Reference with the enveloped transform only (no exc-c14n)", reasons: rSig, detail: "exc-c14n",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				ts := a.FindElement("./Signature/SignedInfo/Reference/Transforms")
				for _, tr := range ts.ChildElements() {
					if strings.Contains(tr.SelectAttrValue("Algorithm", ""), "exc-c14n") {
						detachFrom(ts, tr)
					}
				}
				return h.in(doc)
			}},
		{name: "exc-c14n WithComments (validly signed)", reasons: rSig, detail: "transform",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				unsign(a)
				ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore{PrivateKey: h.idp.Key, Certificate: [][]byte{h.idp.Cert.Raw}})
				ctx.Canonicalizer = dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("")
				signed, err := ctx.SignEnveloped(a)
				if err != nil {
					h.t.Fatal(err)
				}
				placeSignature(signed)
				replace(a, signed)
				return h.in(doc)
			}},
		{name: "Assertion carries the Response's signature (Reference to the Response ID)", reasons: rSig,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				rsig := unsign(doc.Root())
				a := assertionOf(h.t, doc)
				unsign(a)
				nameIDOf(h.t, a).SetText("admin@victim.example")
				a.InsertChildAt(mustChild(h.t, a, nsSAML, "Issuer").Index()+1, rsig)
				return h.in(doc)
			}},
		{name: "signed Assertion's ID changed, signature kept", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				a.CreateAttr("ID", "id-evil")
				return h.in(doc)
			}},

		// ---- XML signature wrapping ----
		{name: "XSW1: original Response inside the evil Response's Signature", reasons: rMal,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				orig := doc.Root()
				evil := orig.Copy()
				evil.CreateAttr("ID", "id-evil-response")
				nameIDOf(h.t, mustChild(h.t, evil, nsSAML, "Assertion")).SetText("admin@victim.example")
				unsign(mustChild(h.t, evil, nsSAML, "Assertion"))
				sig := mustChild(h.t, evil, nsDS, "Signature")
				inner := orig.Copy()
				unsign(inner)
				sig.AddChild(inner)
				out := etree.NewDocument()
				out.SetRoot(evil)
				return h.in(out)
			}},
		{name: "XSW2: original Response before the evil Response's Signature", reasons: rMal,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				orig := doc.Root()
				evil := orig.Copy()
				evil.CreateAttr("ID", "id-evil-response")
				nameIDOf(h.t, mustChild(h.t, evil, nsSAML, "Assertion")).SetText("admin@victim.example")
				unsign(mustChild(h.t, evil, nsSAML, "Assertion"))
				sig := mustChild(h.t, evil, nsDS, "Signature")
				inner := orig.Copy()
				unsign(inner)
				evil.InsertChildAt(sig.Index(), inner)
				out := etree.NewDocument()
				out.SetRoot(evil)
				return h.in(out)
			}},
		{name: "XSW3: evil Assertion (another ID) before the signed one", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				doc.Root().InsertChildAt(a.Index(), evilAssertion(h.t, a, "id-evil"))
				return h.in(doc)
			}},
		{name: "XSW3: evil Assertion (same ID) before the signed one", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				doc.Root().InsertChildAt(a.Index(), evilAssertion(h.t, a, ""))
				return h.in(doc)
			}},
		{name: "XSW3: evil Assertion after the signed one (both signed Response)", reasons: rMal,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				a := assertionOf(h.t, doc)
				doc.Root().AddChild(evilAssertion(h.t, a, "id-evil"))
				return h.in(doc)
			}},
		{name: "XSW4: evil Assertion wrapping the signed one", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				e := evilAssertion(h.t, a, "id-evil")
				replace(a, e)
				e.AddChild(a)
				return h.in(doc)
			}},
		{name: "XSW5: evil Assertion carrying the signature, signed one appended", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				e := evilAssertion(h.t, a, "")
				e.InsertChildAt(mustChild(h.t, e, nsSAML, "Issuer").Index()+1, mustChild(h.t, a, nsDS, "Signature").Copy())
				replace(a, e)
				unsign(a)
				doc.Root().AddChild(a)
				return h.in(doc)
			}},
		{name: "XSW5 without the original: evil Assertion with the signature copied in", reasons: rSig,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				e := evilAssertion(h.t, a, "")
				e.InsertChildAt(mustChild(h.t, e, nsSAML, "Issuer").Index()+1, mustChild(h.t, a, nsDS, "Signature").Copy())
				replace(a, e)
				return h.in(doc)
			}},
		{name: "XSW6: evil Assertion carrying the signature, signed one inside it", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				e := evilAssertion(h.t, a, "")
				sig := mustChild(h.t, a, nsDS, "Signature").Copy()
				e.InsertChildAt(mustChild(h.t, e, nsSAML, "Issuer").Index()+1, sig)
				replace(a, e)
				unsign(a)
				sig.AddChild(a)
				return h.in(doc)
			}},
		{name: "XSW7: signed Assertion moved into Extensions, evil one in its place", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				e := evilAssertion(h.t, a, "id-evil")
				replace(a, e)
				extensions(doc.Root()).AddChild(a)
				return h.in(doc)
			}},
		{name: "XSW8: evil Assertion's Signature holds an Object with the original", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				e := evilAssertion(h.t, a, "")
				sig := mustChild(h.t, a, nsDS, "Signature").Copy()
				e.InsertChildAt(mustChild(h.t, e, nsSAML, "Issuer").Index()+1, sig)
				replace(a, e)
				unsign(a)
				sig.CreateElement("ds:Object").AddChild(a)
				return h.in(doc)
			}},
		{name: "two validly signed Assertions", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				_, b := h.assertionSigned(samltest.Options{})
				detach(b)
				doc.Root().InsertChildAt(a.Index()+1, b)
				return h.in(doc)
			}},
		{name: "Assertion nested in an AttributeValue (other prefix, same namespace)", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				inner := evilAssertion(h.t, a, "id-evil")
				inner.Space = "evil"
				inner.CreateAttr("xmlns:evil", nsSAML)
				a.FindElement(".//AttributeValue").AddChild(inner)
				return h.in(doc)
			}},
		{name: "Assertion nested in Status/StatusDetail", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				st := mustChild(h.t, doc.Root(), nsSAMLP, "Status")
				st.CreateElement("samlp:StatusDetail").AddChild(evilAssertion(h.t, a, "id-evil"))
				return h.in(doc)
			}},
		{name: "Signature inside the Subject", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				mustChild(h.t, a, nsSAML, "Subject").AddChild(mustChild(h.t, a, nsDS, "Signature").Copy())
				return h.in(doc)
			}},
		{name: "EncryptedAssertion next to the Assertion", reasons: rMal,
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				doc.Root().InsertChildAt(a.Index()+1, etree.NewElement("saml:EncryptedAssertion"))
				return h.in(doc)
			}},
		{name: "no Assertion at all (signed Response)", reasons: rMal,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				detach(assertionOf(h.t, doc))
				h.resign(doc.Root())
				return h.in(doc)
			}},

		// ---- audience, recipient, destination, org ----
		{name: "wrong audience", reasons: rCond, detail: "audience",
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{Audience: "https://evil.example/sp"})) }},
		{name: "audience without the trailing slash", reasons: rCond,
			build: func(h *hostile) input {
				return h.in(h.doc(samltest.Options{Audience: strings.TrimSuffix(h.orgA.SP.EntityID, "/")}))
			}},
		{name: "no AudienceRestriction (re-signed)", reasons: rCond, detail: "AudienceRestriction",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					c := mustChild(h.t, a, nsSAML, "Conditions")
					detach(mustChild(h.t, c, nsSAML, "AudienceRestriction"))
				})
			}},
		{name: "second AudienceRestriction for another SP (re-signed)", reasons: rCond,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					c := mustChild(h.t, a, nsSAML, "Conditions")
					ar := mustChild(h.t, c, nsSAML, "AudienceRestriction").Copy()
					c.AddChild(ar)
					mustChild(h.t, ar, nsSAML, "Audience").SetText("https://evil.example/sp")
				})
			}},
		{name: "wrong Recipient", reasons: rCond,
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{Recipient: "https://evil.example/acs"})) }},
		{name: "wrong Destination", reasons: rCond,
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{Destination: "https://evil.example/acs"})) }},
		{name: "org A's response validated with org B's settings (same IdP key)", reasons: rCond,
			build: func(h *hostile) input {
				in := h.in(h.doc(samltest.Options{}))
				in.settings = &h.orgB
				return in
			}},
		{name: "org A's assertion in an unsigned wrapper rewritten for org B", reasons: rCond,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				doc.Root().CreateAttr("Destination", h.orgB.SP.ACSURL)
				in := h.in(doc)
				in.settings = &h.orgB
				return in
			}},
		{name: "Recipient removed (no bearer confirmation left)",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					a.FindElement(".//SubjectConfirmationData").RemoveAttr("Recipient")
				})
			}},
		{name: "holder-of-key instead of bearer", reasons: rInv,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					a.FindElement(".//SubjectConfirmation").CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
				})
			}},
		{name: "Issuer is another IdP (re-signed with the configured key)", reasons: rInv, detail: "issuer",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					mustChild(h.t, a, nsSAML, "Issuer").SetText("https://evil.example/idp")
				})
			}},

		// ---- time ----
		{name: "expired (issued 2 hours ago)", reasons: rCond,
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{Now: h.now.Add(-2 * time.Hour)})) }},
		{name: "expired Conditions only (re-signed)", reasons: rCond,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					mustChild(h.t, a, nsSAML, "Conditions").CreateAttr("NotOnOrAfter", stamp(h.now.Add(-5*time.Minute)))
				})
			}},
		{name: "not yet valid (issued 1 hour ahead)", reasons: rCond,
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{Now: h.now.Add(time.Hour)})) }},
		{name: "IssueInstant 6 minutes ahead (beyond the default 5-minute skew, re-signed)", reasons: rCond, detail: "IssueInstant",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					a.Parent().CreateAttr("IssueInstant", stamp(h.now.Add(6*time.Minute)))
					a.CreateAttr("IssueInstant", stamp(h.now.Add(6*time.Minute)))
				})
			}},
		{name: "issued 6 minutes ahead (whole response from a fast clock)", reasons: rCond,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{Now: h.now.Add(6 * time.Minute)}, func(a *etree.Element) {
					a.CreateAttr("IssueInstant", stamp(h.now.Add(6*time.Minute)))
				})
			}},
		{name: "Assertion IssueInstant 10 minutes ahead, Conditions current (re-signed)", reasons: rCond,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					a.CreateAttr("IssueInstant", stamp(h.now.Add(10*time.Minute)))
				})
			}},
		{name: "lifetime 9 hours, over the default maximum of 8 (Conditions and confirmation, re-signed)", reasons: rCond, detail: "lifetime",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { setLifetime(h, a, 9*time.Hour) })
			}},
		{name: "lifetime 9 hours, Conditions without NotOnOrAfter (re-signed)", reasons: rCond,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					setLifetime(h, a, 9*time.Hour)
					mustChild(h.t, a, nsSAML, "Conditions").RemoveAttr("NotOnOrAfter")
				})
			}},

		// ---- request binding ----
		{name: "InResponseTo of another request", reasons: rReq,
			build: func(h *hostile) input {
				in := h.in(h.doc(samltest.Options{InResponseTo: "id-req-1"}))
				in.requestID = "id-req-2"
				return in
			}},
		{name: "solicited response presented as unsolicited", reasons: rReq,
			build: func(h *hostile) input { return h.in(h.doc(samltest.Options{InResponseTo: "id-req-1"})) }},
		{name: "unsolicited, but the confirmation answers a request we did not issue", reasons: rReq,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{InResponseTo: "id-not-ours"})
				doc.Root().RemoveAttr("InResponseTo")
				return h.in(doc)
			}},
		{name: "unsigned wrapper's InResponseTo rewritten to our request", reasons: rReq,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{InResponseTo: "id-theirs"})
				doc.Root().CreateAttr("InResponseTo", "id-ours")
				in := h.in(doc)
				in.requestID = "id-ours"
				return in
			}},
		{name: "unsolicited response answering a request when one was expected", reasons: rReq,
			build: func(h *hostile) input {
				in := h.in(h.doc(samltest.Options{}))
				in.requestID = "id-req-1"
				return in
			}},

		// ---- XML ----
		{name: "DOCTYPE with billion laughs", reasons: rMal, detail: "directive",
			build: func(h *hostile) input {
				laughs := `<?xml version="1.0"?><!DOCTYPE samlp:Response [<!ENTITY lol "lol">` +
					`<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
					`<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">` +
					`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>`
				raw := h.bytes(h.doc(samltest.Options{}))
				raw = bytes.Replace(raw, []byte(">00u1<"), []byte(">&lol3;<"), 1)
				return input{raw: withPrologue(laughs, raw)}
			}},
		{name: "external entity (XXE)", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				raw = bytes.Replace(raw, []byte(">00u1<"), []byte(">&xxe;<"), 1)
				return input{raw: withPrologue(`<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`, raw)}
			}},
		{name: "bare DOCTYPE", reasons: rMal,
			build: func(h *hostile) input {
				return input{raw: withPrologue(`<!DOCTYPE samlp:Response>`, h.bytes(h.doc(samltest.Options{})))}
			}},
		{name: "processing instruction before the root", reasons: rMal, detail: "processing instruction",
			build: func(h *hostile) input {
				return input{raw: withPrologue(`<?xml version="1.0"?><?xml-stylesheet href="x.xsl"?>`, h.bytes(h.doc(samltest.Options{})))}
			}},
		{name: "processing instruction inside the NameID", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: bytes.Replace(raw, []byte(">00u1<"), []byte(">00u1<?evil x?><"), 1)}
			}},
		{name: "ISO-8859-1 encoding declaration", reasons: rMal, detail: "encoding",
			build: func(h *hostile) input {
				return input{raw: withPrologue(`<?xml version="1.0" encoding="ISO-8859-1"?>`, h.bytes(h.doc(samltest.Options{})))}
			}},
		{name: "UTF-16 encoding declaration", reasons: rMal, detail: "encoding",
			build: func(h *hostile) input {
				return input{raw: withPrologue(`<?xml version='1.0' encoding='UTF-16'?>`, h.bytes(h.doc(samltest.Options{})))}
			}},
		{name: "invalid UTF-8 in the NameID", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: bytes.Replace(raw, []byte(">00u1<"), []byte(">00u1\xc3\x28\xff<"), 1)}
			}},
		{name: "invalid UTF-8 in an attribute value", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: bytes.Replace(raw, []byte(`Version="2.0"`), []byte("Version=\"2.0\xed\xa0\x80\""), 1)}
			}},
		{name: "NUL byte", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: bytes.Replace(raw, []byte(">00u1<"), []byte(">00u1\x00<"), 1)}
			}},
		// Base64 of MaxDecodedResponse+1 bytes is longer than MaxEncodedResponse, so the
		// encoded limit is what refuses it, before any decoding.
		{name: "response of MaxDecodedResponse+1 bytes", reasons: rMal, detail: "larger than",
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				pad := bytes.Repeat([]byte(" "), samlsp.MaxDecodedResponse+1-len(raw))
				return input{encoded: base64.StdEncoding.EncodeToString(append(raw, pad...))}
			}},
		{name: "control: response of exactly MaxDecodedResponse bytes", accept: true,
			// Padded in unsigned Extensions, in text nodes under MaxTextLength.
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				ext := extensions(doc.Root())
				for i := 0; i < 6; i++ {
					ext.CreateElement("x").SetText(strings.Repeat("a", 60000))
				}
				last := ext.CreateElement("x")
				last.SetText("a")
				rest := samlsp.MaxDecodedResponse - len(h.bytes(doc)) + 1
				if rest < 0 || rest > samlsp.MaxTextLength {
					h.t.Fatalf("padding %d", rest)
				}
				last.SetText(strings.Repeat("a", rest))
				raw := h.bytes(doc)
				if len(raw) != samlsp.MaxDecodedResponse {
					h.t.Fatalf("%d bytes", len(raw))
				}
				return input{encoded: base64.StdEncoding.EncodeToString(raw)}
			}},
		{name: "encoded response larger than MaxEncodedResponse", reasons: rMal,
			build: func(h *hostile) input {
				return input{encoded: strings.Repeat("A", samlsp.MaxEncodedResponse+4)}
			}},
		{name: "not base64", reasons: rMal,
			build: func(h *hostile) input { return input{encoded: "<samlp:Response/>"} }},
		{name: "more than MaxElements elements", reasons: rMal, detail: "elements",
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				ext := extensions(doc.Root())
				for i := 0; i <= samlsp.MaxElements; i++ {
					ext.CreateElement("x")
				}
				return h.in(doc)
			}},
		{name: "nesting deeper than MaxDepth", reasons: rMal, detail: "deeper",
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				el := extensions(doc.Root())
				for i := 0; i < samlsp.MaxDepth; i++ {
					el = el.CreateElement("x")
				}
				return h.in(doc)
			}},
		{name: "text node larger than MaxTextLength", reasons: rMal,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				extensions(doc.Root()).CreateElement("x").SetText(strings.Repeat("a", samlsp.MaxTextLength+1))
				return h.in(doc)
			}},
		// Limits that keep the pre-scan and canonicalisation linear in the document's size:
		// without them a 380 KB response of one element with 40,000 attributes cost 11.5 s
		// of CPU before anything was verified (duplicate-attribute check, etree's attribute
		// lookups and the canonical sort are quadratic per element).
		{name: "more than MaxAttributes attributes on one element", reasons: rMal, detail: "attributes",
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				x := extensions(doc.Root()).CreateElement("x")
				for i := 0; i <= samlsp.MaxAttributes; i++ {
					x.CreateAttr("a"+strconv.Itoa(i), "")
				}
				return h.in(doc)
			}},
		{name: "control: MaxAttributes attributes on one element", accept: true,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				x := extensions(doc.Root()).CreateElement("x")
				for i := 0; i < samlsp.MaxAttributes; i++ {
					x.CreateAttr("a"+strconv.Itoa(i), "")
				}
				return h.in(doc)
			}},
		{name: "more than MaxNamespaces prefixes in scope", reasons: rMal, detail: "namespace",
			// Half on one element, half on its child: the limit is on what is in scope.
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				x := extensions(doc.Root()).CreateElement("x")
				y := x.CreateElement("y")
				for i := 0; i <= samlsp.MaxNamespaces/2; i++ {
					x.CreateAttr("xmlns:x"+strconv.Itoa(i), "urn:x")
					y.CreateAttr("xmlns:y"+strconv.Itoa(i), "urn:y")
				}
				return h.in(doc)
			}},
		{name: "control: the same prefix redeclared on every element", accept: true,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				el := extensions(doc.Root())
				for i := 0; i < samlsp.MaxDepth-8; i++ {
					el = el.CreateElement("x")
					el.CreateAttr("xmlns:p", "urn:p"+strconv.Itoa(i))
				}
				return h.in(doc)
			}},
		{name: "not XML", reasons: rMal,
			build: func(h *hostile) input { return input{raw: []byte("SAMLResponse=hello")} }},
		{name: "empty document", reasons: rMal,
			build: func(h *hostile) input { return input{raw: []byte("  ")} }},
		{name: "truncated document", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: raw[:len(raw)/2]}
			}},
		{name: "text after the root", reasons: rMal,
			build: func(h *hostile) input {
				return input{raw: append(h.bytes(h.doc(samltest.Options{})), []byte("junk")...)}
			}},
		{name: "second root element", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: append(append([]byte{}, raw...), raw...)}
			}},

		// ---- shape and content ----
		{name: "root is a bare signed Assertion", reasons: rMal, detail: "root",
			build: func(h *hostile) input {
				_, a := h.assertionSigned(samltest.Options{})
				detach(a)
				out := etree.NewDocument()
				out.SetRoot(a)
				return h.in(out)
			}},
		{name: "root is a LogoutRequest", reasons: rMal,
			build: func(h *hostile) input {
				form := h.idp.LogoutPostForm(h.t, samltest.LogoutRequest{NameID: "00u1", Destination: h.orgA.SP.SLSURL}, true)
				raw, _ := base64.StdEncoding.DecodeString(form)
				return input{raw: raw}
			}},
		{name: "Response in another namespace (samlp prefix rebound)", reasons: rMal,
			build: func(h *hostile) input {
				raw := h.bytes(h.doc(samltest.Options{}))
				return input{raw: bytes.Replace(raw, []byte(`xmlns:samlp="`+nsSAMLP+`"`), []byte(`xmlns:samlp="urn:evil:protocol"`), 1)}
			}},
		{name: "Status Requester (Assertion signed)", reasons: rInv,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				doc.Root().FindElement("./Status/StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Requester")
				return h.in(doc)
			}},
		{name: "Status Responder (Response re-signed)", reasons: rInv,
			build: func(h *hostile) input {
				doc := h.doc(samltest.Options{})
				doc.Root().FindElement("./Status/StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
				h.resign(doc.Root())
				return h.in(doc)
			}},
		{name: "no Status", reasons: rInv,
			build: func(h *hostile) input {
				doc, _ := h.assertionSigned(samltest.Options{})
				detach(mustChild(h.t, doc.Root(), nsSAMLP, "Status"))
				return h.in(doc)
			}},
		{name: "signed Assertion without Subject", reasons: []string{samlsp.ReasonInvalid, samlsp.ReasonMalformed},
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { detach(mustChild(h.t, a, nsSAML, "Subject")) })
			}},
		{name: "signed Assertion without NameID", reasons: rInv,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					s := mustChild(h.t, a, nsSAML, "Subject")
					detach(mustChild(h.t, s, nsSAML, "NameID"))
				})
			}},
		{name: "signed Assertion with an empty NameID", reasons: rInv,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { nameIDOf(h.t, a).SetText("  ") })
			}},
		{name: "signed Assertion without Conditions", reasons: []string{samlsp.ReasonInvalid, samlsp.ReasonMalformed, samlsp.ReasonConditions},
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { detach(mustChild(h.t, a, nsSAML, "Conditions")) })
			}},
		{name: "signed Assertion without ID (Reference to #)",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { a.RemoveAttr("ID") })
			}},
		{name: "signed Assertion without SubjectConfirmation", reasons: rInv,
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) {
					s := mustChild(h.t, a, nsSAML, "Subject")
					detach(mustChild(h.t, s, nsSAML, "SubjectConfirmation"))
				})
			}},
		{name: "signed Assertion with a malformed IssueInstant",
			build: func(h *hostile) input {
				return h.editSigned(samltest.Options{}, func(a *etree.Element) { a.CreateAttr("IssueInstant", "yesterday") })
			}},
		{name: "comment in the NameID: never the truncated value",
			// The IdP signed "admin@evil.com.attacker.com" (the attacker's own account);
			// the comment is inserted after signing and exclusive c14n drops it, so the
			// signature still verifies. A parser reading only the first text node
			// would see admin@evil.com.
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				nameIDOf(h.t, a).SetText("admin@evil.com.attacker.com")
				a = h.resign(a)
				n := nameIDOf(h.t, a)
				n.SetText("admin@evil.com")
				n.CreateComment("")
				n.CreateText(".attacker.com")
				return h.in(doc)
			},
			check: func(t *testing.T, a *samlsp.Assertion, err error) {
				if err == nil && a.NameID != "admin@evil.com.attacker.com" {
					t.Fatalf("NameID %q: truncated by the comment", a.NameID)
				}
			}},
		{name: "comment in an attribute value: never the truncated value",
			build: func(h *hostile) input {
				doc, a := h.assertionSigned(samltest.Options{})
				var email *etree.Element
				for _, v := range a.FindElements(".//AttributeValue") {
					if v.Text() == "alice@example.com" {
						email = v
					}
				}
				email.SetText("admin@evil.com.attacker.com")
				a = h.resign(a)
				for _, v := range a.FindElements(".//AttributeValue") {
					if v.Text() == "admin@evil.com.attacker.com" {
						v.SetText("admin@evil.com")
						v.CreateComment("x")
						v.CreateText(".attacker.com")
					}
				}
				return h.in(doc)
			},
			check: func(t *testing.T, a *samlsp.Assertion, err error) {
				if err != nil {
					return
				}
				if got := a.Attributes["email"]; len(got) != 1 || got[0] != "admin@evil.com.attacker.com" {
					t.Fatalf("email %q: truncated by the comment", got)
				}
			}},
	}
}

// setLifetime moves every NotOnOrAfter of a to IssueInstant+d (IssueInstant = now).
func setLifetime(h *hostile, a *etree.Element, d time.Duration) {
	a.CreateAttr("IssueInstant", stamp(h.now))
	mustChild(h.t, a, nsSAML, "Conditions").CreateAttr("NotOnOrAfter", stamp(h.now.Add(d)))
	for _, scd := range a.FindElements(".//SubjectConfirmationData") {
		scd.CreateAttr("NotOnOrAfter", stamp(h.now.Add(d)))
	}
}

// certValid is a self-signed certificate for key, valid from notBefore to notAfter.
func certValid(t *testing.T, key *rsa.PrivateKey, notBefore, notAfter time.Time) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(notAfter.UnixNano()),
		Subject:      pkix.Name{CommonName: "test idp"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// TestHostileResponses runs the table. Not parallel: it freezes the clock.
func TestHostileResponses(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	defer samlsp.FreezeClock(now)()
	idp := samltest.New(t, "https://idp.example")
	evil := samltest.New(t, "https://idp.example") // same entity ID, another key
	base := "https://gatehouse.example"
	h := &hostile{
		t: t, now: now, idp: idp, evil: evil,
		orgA: samlsp.Settings{SP: samlsp.NewSP(base, "acme"), IdP: idp.Settings()},
		orgB: samlsp.Settings{SP: samlsp.NewSP(base, "beta"), IdP: idp.Settings()},
	}
	seen := map[string]bool{}
	for _, row := range hostileRows() {
		if seen[row.name] {
			t.Fatalf("duplicate row %q", row.name)
		}
		seen[row.name] = true
		t.Run(row.name, func(t *testing.T) {
			h.t = t
			in := row.build(h)
			s := h.orgA
			if in.settings != nil {
				s = *in.settings
			}
			a, err := validateNoPanic(t, s, in)
			if row.check != nil {
				row.check(t, a, err)
				if err != nil {
					t.Logf("refused: %v", err)
				}
				return
			}
			if row.accept {
				if err != nil {
					t.Fatalf("control refused: %v", err)
				}
				if a.NameID == "" || a.ID == "" || a.Issuer != idp.EntityID {
					t.Fatalf("control accepted with %+v", a)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: NameID %q, attributes %v", a.NameID, a.Attributes)
			}
			if a != nil {
				t.Errorf("refusal returned an assertion too")
			}
			var ve *samlsp.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a *ValidationError: %T %v", err, err)
			}
			t.Logf("refused: %v", err)
			if len(row.reasons) > 0 && !containsString(row.reasons, ve.Reason) {
				t.Errorf("reason %q, want %v (%s)", ve.Reason, row.reasons, ve.Detail)
			}
			if row.detail != "" && !strings.Contains(strings.ToLower(ve.Detail), strings.ToLower(row.detail)) {
				t.Errorf("detail %q does not mention %q", ve.Detail, row.detail)
			}
		})
	}
	h.t = t
}

// validateNoPanic decodes (when the row gives a form value) and validates; a panic that
// escapes ValidateResponse fails the test instead of the run.
func validateNoPanic(t *testing.T, s samlsp.Settings, in input) (a *samlsp.Assertion, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic escaped: %v", r)
		}
	}()
	raw := in.raw
	if in.encoded != "" {
		if raw, err = samlsp.DecodeResponse(in.encoded); err != nil {
			return nil, err
		}
	}
	return samlsp.ValidateResponse(s, raw, in.requestID)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
