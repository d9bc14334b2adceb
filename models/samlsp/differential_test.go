package samlsp_test

// The safety net of the single-parse path: every input goes through ValidateResponse
// AND two references — the crewjam path Gatehouse used before (ParseXMLResponse under
// the same pre-scan, signature policy and post-validation rules) and
// russellhaering/gosaml2 (test-only, pinned in go.mod) — and a case that the new path
// accepts while a reference refuses it for a signature, audience, time or wrapping
// reason fails the test. Inputs: the hostile table, the real-IdP corpus, mutations of
// valid responses (unsigned edits, and edits re-signed by the IdP), and the fuzz
// target's corpus (FuzzDifferential, testdata/fuzz/FuzzDifferential).
//
// Known reference limits, not counted: gosaml2 refuses a KeyInfo without an
// X509Certificate and a SignatureValue with whitespace (both unsigned); crewjam panics ("parser panic") on signed
// elements of more than ~1,000 descendants (goxmldsig's traversal limit); gosaml2 has
// no clock skew, so its time refusals count only when it refuses at now, now-skew and
// now+skew alike.

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// Verdict classes that make a differential failure.
const (
	classSignature = "signature"
	classAudience  = "audience"
	classTime      = "time"
	classWrapping  = "wrapping"
	classOther     = "other"
)

type verdict struct {
	accept bool
	class  string
	detail string
}

func (v verdict) counts() bool { return !v.accept && v.class != classOther }

// crewjamVerdict runs the crewjam reference path.
func crewjamVerdict(s samlsp.Settings, raw []byte, requestID string) verdict {
	_, err := samlsp.ValidateCrewjam(s, raw, requestID)
	if err == nil {
		return verdict{accept: true}
	}
	var ve *samlsp.ValidationError
	if !errors.As(err, &ve) {
		return verdict{class: classOther, detail: err.Error()}
	}
	d := strings.ToLower(ve.Detail)
	v := verdict{class: classOther, detail: err.Error()}
	switch ve.Reason {
	case samlsp.ReasonSignature:
		v.class = classSignature
	case samlsp.ReasonConditions:
		switch {
		case strings.Contains(d, "audience") || strings.Contains(d, "recipient") || strings.Contains(d, "destination"):
			v.class = classAudience
		default:
			v.class = classTime
		}
	case samlsp.ReasonMalformed:
		if strings.Contains(d, "parser panic") {
			v.class = classOther // crewjam's traversal-limit crash (issue 11 item 5)
		} else {
			v.class = classWrapping // pre-scan shape rules, xml-roundtrip-validator
		}
	}
	return v
}

// gosaml2Verdict runs gosaml2 at now, now-skew and now+skew.
func gosaml2Verdict(s samlsp.Settings, raw []byte, now time.Time) verdict {
	var vs []verdict
	for _, at := range []time.Time{now, now.Add(-s.Skew()), now.Add(s.Skew())} {
		vs = append(vs, gosaml2At(s, raw, at))
	}
	for _, v := range vs {
		if v.accept {
			return v
		}
	}
	if vs[0].class == classTime {
		for _, v := range vs[1:] {
			if v.class != classTime {
				return v // within our skew it fails for another reason: report that one
			}
		}
	}
	return vs[0]
}

func gosaml2At(s samlsp.Settings, raw []byte, now time.Time) (v verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = verdict{class: classOther, detail: fmt.Sprintf("gosaml2 panic: %v", r)}
		}
	}()
	certs, err := s.IdP.Certificates()
	if err != nil {
		return verdict{class: classOther, detail: err.Error()}
	}
	sp := &saml2.SAMLServiceProvider{
		IdentityProviderIssuer:      s.IdP.EntityID,
		AssertionConsumerServiceURL: s.SP.ACSURL,
		ServiceProviderIssuer:       s.SP.EntityID,
		AudienceURI:                 s.SP.EntityID,
		IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: certs},
		AllowMissingAttributes:      true,
		Clock:                       dsig.NewFakeClockAt(now),
	}
	if s.SPKey != nil && s.SP.Cert != nil {
		sp.SPKeyStore = dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{s.SP.Cert.Raw}, PrivateKey: s.SPKey})
	}
	info, err := sp.RetrieveAssertionInfo(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		d := strings.ToLower(err.Error())
		v := verdict{class: classOther, detail: err.Error()}
		switch {
		// gosaml2 limits, not security refusals: a KeyInfo without an X509Certificate
		// (RSAKeyValue, KeyName; crewjam and we ignore it and use the configured key),
		// and whitespace in the base64Binary SignatureValue (Google Workspace indents
		// it; it decodes strictly). Both are outside what is signed.
		case strings.Contains(d, "missing x509certificate within keyinfo") || strings.Contains(d, "could not decode signature"):
		case strings.Contains(d, "unexpected parent") || strings.Contains(d, "both signed and unsigned"):
			v.class = classWrapping
		case strings.Contains(d, "signature") || strings.Contains(d, "verif") || strings.Contains(d, "certificate") ||
			strings.Contains(d, "digest") || strings.Contains(d, "reference"):
			v.class = classSignature
		case strings.Contains(d, "audience") || strings.Contains(d, "recipient") || strings.Contains(d, "destination"):
			v.class = classAudience
		case strings.Contains(d, "notonorafter") || strings.Contains(d, "notbefore") || strings.Contains(d, "expired"):
			v.class = classTime
		}
		return v
	}
	switch {
	case info.WarningInfo.InvalidTime:
		return verdict{class: classTime, detail: "gosaml2: InvalidTime"}
	case info.WarningInfo.NotInAudience:
		return verdict{class: classAudience, detail: "gosaml2: NotInAudience"}
	}
	return verdict{accept: true}
}

// diffStats counts what the differential saw.
type diffStats struct{ inputs, accepted, refused int }

// differential runs one input through the three validators and fails on a case the
// new path accepts that a reference refuses for a counted reason.
func differential(t testing.TB, st *diffStats, name string, s samlsp.Settings, raw []byte, requestID string, now time.Time) {
	t.Helper()
	st.inputs++
	a, err := samlsp.ValidateResponse(s, raw, requestID)
	if err != nil {
		st.refused++
		return
	}
	st.accepted++
	if a == nil || a.NameID == "" {
		t.Errorf("%s: accepted without a NameID", name)
	}
	if v := crewjamVerdict(s, raw, requestID); v.counts() {
		t.Errorf("%s: the new path accepts, crewjam refuses (%s): %s", name, v.class, v.detail)
	}
	if v := gosaml2Verdict(s, raw, now); v.counts() {
		t.Errorf("%s: the new path accepts, gosaml2 refuses (%s): %s", name, v.class, v.detail)
	}
}

// TestDifferentialHostile: the hostile table through all three.
func TestDifferentialHostile(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	var st diffStats
	for _, row := range hostileRows() {
		h.t = t
		in := row.build(h)
		s := h.orgA
		if in.settings != nil {
			s = *in.settings
		}
		raw := in.raw
		if in.encoded != "" {
			var err error
			if raw, err = samlsp.DecodeResponse(in.encoded); err != nil {
				continue
			}
		}
		differential(t, &st, row.name, s, raw, in.requestID, h.now)
	}
	t.Logf("hostile: %d inputs, %d accepted, %d refused", st.inputs, st.accepted, st.refused)
	if st.accepted == 0 {
		t.Fatal("no input accepted: the controls did not run")
	}
}

// TestDifferentialRealIdPs: the real-IdP corpus (accepted and refused captures, and
// the repaired Okta capture) through all three, at each capture's instant.
func TestDifferentialRealIdPs(t *testing.T) {
	root := realIdPDir(t)
	var st diffStats
	for _, kind := range []string{"assertions", "bad-assertions"} {
		for _, dir := range subdirs(t, filepath.Join(root, kind)) {
			v := loadRealVector(t, dir)
			restore := samlsp.FreezeClock(v.now)
			idp, err := samlsp.ParseMetadata(v.metadata, v.now)
			if err != nil {
				restore()
				continue
			}
			var sent sentResponse
			if err := xml.Unmarshal(v.response, &sent); err != nil || sent.acsURL() == "" {
				restore()
				continue
			}
			s := settingsForVector(t, v, idp, sent)
			differential(t, &st, kind+"/"+v.name, s, v.response, sent.requestID(), v.now)
			if repaired, changed := undoReindent(v.response); changed {
				differential(t, &st, kind+"/"+v.name+" (repaired)", s, repaired, sent.requestID(), v.now)
			}
			// Every mutation of a real capture, too.
			for i, m := range mutations(v.response) {
				differential(t, &st, fmt.Sprintf("%s/%s mutation %d (%s)", kind, v.name, i, m.what), s, m.raw, sent.requestID(), v.now)
			}
			restore()
		}
	}
	t.Logf("real IdPs: %d inputs, %d accepted, %d refused", st.inputs, st.accepted, st.refused)
	if st.accepted < 6 {
		t.Fatalf("only %d captures accepted", st.accepted)
	}
}

// TestDifferentialMutations: structured mutations of valid responses — every element
// removed, duplicated or emptied, every attribute changed or removed, comments and
// prefixes injected — signed (edits break the signature) and re-signed by the IdP (the
// edit is then an IdP's own statement, so the policy decides).
func TestDifferentialMutations(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	var st diffStats
	bases := map[string]func() *etree.Document{
		"both signed": func() *etree.Document { return h.doc(samltest.Options{}) },
		"assertion signed": func() *etree.Document {
			d, _ := h.assertionSigned(samltest.Options{})
			return d
		},
	}
	for bname, base := range bases {
		raw := h.bytes(base())
		for i, m := range mutations(raw) {
			differential(t, &st, fmt.Sprintf("%s mutation %d (%s)", bname, i, m.what), h.orgA, m.raw, "", h.now)
		}
	}
	// Re-signed edits of the Assertion: the policy decides.
	doc, a := h.assertionSigned(samltest.Options{})
	var paths []string
	walkElements(a, "", func(p string, _ *etree.Element) { paths = append(paths, p) })
	for _, p := range paths {
		for _, edit := range []string{"remove", "duplicate", "empty", "attrs"} {
			d := reparse(t, doc)
			aa := assertionOf(t, d)
			el := findPath(aa, p)
			if el == nil || el == aa || el.Tag == "Signature" || hasAncestor(el, "Signature") {
				continue
			}
			switch edit {
			case "remove":
				detach(el)
			case "duplicate":
				el.Parent().InsertChildAt(el.Index()+1, el.Copy())
			case "empty":
				for _, c := range append([]etree.Token(nil), el.Child...) {
					el.RemoveChild(c)
				}
			case "attrs":
				for i := range el.Attr {
					el.Attr[i].Value = "x" + el.Attr[i].Value
				}
			}
			h.resign(aa)
			differential(t, &st, fmt.Sprintf("re-signed %s %s", edit, p), h.orgA, h.bytes(d), "", h.now)
		}
	}
	t.Logf("mutations: %d inputs, %d accepted, %d refused", st.inputs, st.accepted, st.refused)
}

type mutation struct {
	what string
	raw  []byte
}

// mutations are edits of a signed response that do not re-sign it.
func mutations(raw []byte) []mutation {
	var out []mutation
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return nil
	}
	var paths []string
	walkElements(doc.Root(), "", func(p string, _ *etree.Element) { paths = append(paths, p) })
	write := func(d *etree.Document) []byte {
		b, _ := d.WriteToBytes()
		return b
	}
	for _, p := range paths {
		for _, edit := range []string{"remove", "duplicate", "text", "attr", "comment", "attr-remove"} {
			d := doc.Copy()
			el := findPath(d.Root(), p)
			if el == nil {
				continue
			}
			switch edit {
			case "remove":
				if el.Parent() == nil {
					continue
				}
				el.Parent().RemoveChild(el)
			case "duplicate":
				if el.Parent() == nil {
					continue
				}
				el.Parent().InsertChildAt(el.Index(), el.Copy())
			case "text":
				if len(el.ChildElements()) > 0 || el.Text() == "" {
					continue
				}
				el.SetText(el.Text() + "x")
			case "attr":
				if len(el.Attr) == 0 {
					continue
				}
				el.Attr[len(el.Attr)-1].Value += "x"
			case "attr-remove":
				if len(el.Attr) == 0 {
					continue
				}
				el.RemoveAttr(el.Attr[0].FullKey())
			case "comment":
				if len(el.ChildElements()) > 0 || el.Text() == "" {
					continue
				}
				txt := el.Text()
				el.SetText(txt[:len(txt)/2])
				el.CreateComment("c")
				el.CreateText(txt[len(txt)/2:] + ".evil.example")
			}
			out = append(out, mutation{what: edit + " " + p, raw: write(d)})
		}
	}
	// Byte-level: the prefix of the assertion namespace rebound, a second Assertion
	// namespace declaration, the document truncated.
	out = append(out,
		mutation{"rebind saml prefix", []byte(strings.Replace(string(raw), `xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`, `xmlns:saml="urn:example:evil"`, 1))},
		mutation{"truncate", raw[:len(raw)*2/3]},
	)
	return out
}

// walkElements calls fn for every element with a path of child indexes.
func walkElements(el *etree.Element, p string, fn func(string, *etree.Element)) {
	fn(p, el)
	for i, c := range el.ChildElements() {
		walkElements(c, fmt.Sprintf("%s/%d", p, i), fn)
	}
}

func findPath(root *etree.Element, p string) *etree.Element {
	el := root
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if part == "" {
			continue
		}
		var i int
		fmt.Sscanf(part, "%d", &i)
		cs := el.ChildElements()
		if i >= len(cs) {
			return nil
		}
		el = cs[i]
	}
	return el
}

func hasAncestor(el *etree.Element, tag string) bool {
	for p := el.Parent(); p != nil; p = p.Parent() {
		if p.Tag == tag {
			return true
		}
	}
	return false
}
