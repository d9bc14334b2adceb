package samlsp_test

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// newHostile is the cast of TestHostileResponses, for the single-parse path's own tests.
func newHostile(t *testing.T) (*hostile, func()) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	restore := samlsp.FreezeClock(now)
	idp := samltest.New(t, "https://idp.example")
	base := "https://gatehouse.example"
	return &hostile{
		t: t, now: now, idp: idp, evil: samltest.New(t, "https://idp.example"),
		orgA: samlsp.Settings{SP: samlsp.NewSP(base, "acme"), IdP: idp.Settings()},
		orgB: samlsp.Settings{SP: samlsp.NewSP(base, "beta"), IdP: idp.Settings()},
	}, restore
}

// withGroupValues adds n compact values of a "groups" attribute to the Assertion and
// re-signs the Assertion and the Response (as ADFS, Okta or JumpCloud send a user in
// many groups).
func withGroupValues(h *hostile, n int) []byte {
	doc := h.doc(samltest.Options{})
	a := assertionOf(h.t, doc)
	st := a.CreateElement("saml:AttributeStatement")
	attr := st.CreateElement("saml:Attribute")
	attr.CreateAttr("Name", "groups")
	for i := 0; i < n; i++ {
		attr.CreateElement("saml:AttributeValue").SetText(fmt.Sprintf("g%05d", i))
	}
	h.resign(a)
	h.resign(doc.Root())
	return h.bytes(reparse(h.t, doc))
}

// TestLargeAttributeStatement: a response with 5,000 attribute values within the size
// limit signs in with every value (issue 11 item 5: crewjam refused it as "malformed:
// parser panic", goxmldsig's 1,000-element traversal limit then a nil dereference).
func TestLargeAttributeStatement(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	for _, n := range []int{970, 1000, 5000} {
		raw := withGroupValues(h, n)
		if len(raw) > samlsp.MaxDecodedResponse {
			t.Fatalf("%d values: %d bytes, over MaxDecodedResponse", n, len(raw))
		}
		a, err := samlsp.ValidateResponse(h.orgA, raw, "")
		if err != nil {
			t.Fatalf("%d values (%d bytes): refused: %v", n, len(raw), err)
		}
		if got := a.Attributes["groups"]; len(got) != n || got[0] != "g00000" || got[n-1] != fmt.Sprintf("g%05d", n-1) {
			t.Fatalf("%d values: read %d", n, len(got))
		}
		_, refErr := samlsp.ValidateCrewjam(h.orgA, raw, "")
		t.Logf("%d values, %d bytes: accepted; crewjam path: %v", n, len(raw), refErr)
	}
	// A tampered large statement is still refused.
	raw := withGroupValues(h, 5000)
	raw = []byte(strings.Replace(string(raw), ">g04999<", ">admins<", 1))
	if _, err := samlsp.ValidateResponse(h.orgA, raw, ""); !isReason(err, samlsp.ReasonSignature) {
		t.Fatalf("tampered 5,000-value response: %v", err)
	}
}

func isReason(err error, reason string) bool {
	var ve *samlsp.ValidationError
	return errors.As(err, &ve) && ve.Reason == reason
}

// setKeyInfo replaces the certificates in el's Signature KeyInfo with ders, in order.
func setKeyInfo(t *testing.T, el *etree.Element, ders ...[]byte) {
	t.Helper()
	sig := mustChild(t, el, nsDS, "Signature")
	if ki := child(sig, nsDS, "KeyInfo"); ki != nil {
		detach(ki)
	}
	ki := sig.CreateElement("ds:KeyInfo")
	xd := ki.CreateElement("ds:X509Data")
	for _, der := range ders {
		xd.CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(der))
	}
}

// TestKeyInfoCertificateChain: a chain in KeyInfo is accepted when the certificate that
// verifies is a configured one, wherever it sits in the chain; KeyInfo never brings a
// key of its own (issue 11 item 10).
func TestKeyInfoCertificateChain(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	_, other := samltest.NewKeyPair(t) // an unconfigured certificate (a CA, say)
	rows := []struct {
		name   string
		build  func() []byte
		accept bool
	}{
		{"configured leaf, then an unconfigured CA", func() []byte {
			doc, a := h.assertionSigned(samltest.Options{})
			setKeyInfo(t, a, h.idp.Cert.Raw, other.Raw)
			return h.bytes(doc)
		}, true},
		{"unconfigured CA first, configured leaf second", func() []byte {
			doc, a := h.assertionSigned(samltest.Options{})
			setKeyInfo(t, a, other.Raw, h.idp.Cert.Raw)
			return h.bytes(doc)
		}, true},
		{"only unconfigured certificates (signature by the configured key)", func() []byte {
			doc, a := h.assertionSigned(samltest.Options{})
			setKeyInfo(t, a, other.Raw)
			return h.bytes(doc)
		}, false},
		{"chain with the configured certificate, signed by another key", func() []byte {
			doc, a := h.assertionSigned(samltest.Options{})
			h.resignWith(a, h.evil.Key, h.evil.Cert.Raw, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
			setKeyInfo(t, child(doc.Root(), nsSAML, "Assertion"), h.evil.Cert.Raw, h.idp.Cert.Raw)
			return h.bytes(doc)
		}, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h.t = t
			a, err := samlsp.ValidateResponse(h.orgA, row.build(), "")
			if row.accept && (err != nil || a.NameID == "") {
				t.Fatalf("refused: %v", err)
			}
			if !row.accept && !isReason(err, samlsp.ReasonSignature) {
				t.Fatalf("want a signature refusal, got %v", err)
			}
		})
	}
}

// TestEncryptedAssertion: an assertion encrypted for the org's SP key signs in through
// the single-parse path (signed Response around it); without the SP key, or with
// another org's key, it is refused; RequireEncrypted refuses a plaintext assertion.
func TestEncryptedAssertion(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	key, cert := samltest.NewKeyPair(t)
	s := h.orgA
	s.SPKey, s.SP.Cert = key, cert
	raw := h.idp.Response(t, s.SP, alice, samltest.Options{EncryptFor: cert})
	if !strings.Contains(string(raw), "EncryptedAssertion") {
		t.Fatal("the helper did not encrypt")
	}
	a, err := samlsp.ValidateResponse(s, raw, "")
	if err != nil || a.NameID != alice.NameID {
		t.Fatalf("encrypted assertion refused: %v", err)
	}
	if _, err := samlsp.ValidateResponse(h.orgA, raw, ""); err == nil {
		t.Fatal("accepted without the SP key")
	}
	otherKey, _ := samltest.NewKeyPair(t)
	wrong := s
	wrong.SPKey = otherKey
	if _, err := samlsp.ValidateResponse(wrong, raw, ""); err == nil {
		t.Fatal("accepted with another SP key")
	}
	s.RequireEncrypted = true
	if _, err := samlsp.ValidateResponse(s, raw, ""); err != nil {
		t.Fatalf("RequireEncrypted refused an encrypted assertion: %v", err)
	}
	plain := h.idp.Response(t, s.SP, alice, samltest.Options{})
	if _, err := samlsp.ValidateResponse(s, plain, ""); !isReason(err, samlsp.ReasonInvalid) {
		t.Fatalf("RequireEncrypted accepted a plaintext assertion: %v", err)
	}
}

// TestConfiguredCertificateDates: a configured (pinned) signing certificate's dates
// are no reason to refuse (issue 11 item 4; models.CertStage says why and warns the
// owners): a response signed by the key of an expired or not-yet-valid configured
// certificate signs in, and so does a signed IdP logout request. A certificate that
// is not configured is never trusted, expired or not: one in KeyInfo only selects
// among the configured ones.
func TestConfiguredCertificateDates(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	expiredKey, expired := certValid(t, h.idp.Key, h.now.Add(-48*time.Hour), h.now.Add(-time.Hour))
	_, future := certValid(t, h.idp.Key, h.now.Add(time.Hour), h.now.Add(48*time.Hour))
	_, renewed := certValid(t, h.idp.Key, h.now.Add(-time.Hour), h.now.Add(48*time.Hour))
	_, otherExpired := certValid(t, h.evil.Key, h.now.Add(-48*time.Hour), h.now.Add(-time.Hour))
	old := samltest.NewWithKey("https://idp.example", expiredKey, expired)
	early := samltest.NewWithKey("https://idp.example", expiredKey, future)
	attacker := samltest.NewWithKey("https://idp.example", h.evil.Key, otherExpired)
	with := func(certs ...*x509.Certificate) samlsp.Settings {
		s := samlsp.Settings{SP: h.orgA.SP, IdP: old.Settings()}
		s.IdP.Certs = nil
		for _, c := range certs {
			s.IdP.Certs = append(s.IdP.Certs, c.Raw)
		}
		return s
	}
	rows := []struct {
		name   string
		s      samlsp.Settings
		raw    func() []byte
		accept bool
	}{
		{"configured certificate expired (both signed)", with(expired),
			func() []byte { return old.Response(t, h.orgA.SP, alice, samltest.Options{}) }, true},
		{"configured certificate expired (Assertion signed)", with(expired), func() []byte {
			doc := old.ResponseDoc(t, h.orgA.SP, alice, samltest.Options{})
			unsign(doc.Root())
			return h.bytes(doc)
		}, true},
		{"configured certificate expired, a valid one configured too (rollover)", with(h.idp.Cert, expired),
			func() []byte { return old.Response(t, h.orgA.SP, alice, samltest.Options{}) }, true},
		{"configured certificate not yet valid", with(future),
			func() []byte { return early.Response(t, h.orgA.SP, alice, samltest.Options{}) }, true},
		{"expired certificate in KeyInfo, not configured (same key renewed and configured)", with(renewed),
			func() []byte { return old.Response(t, h.orgA.SP, alice, samltest.Options{}) }, false},
		{"expired certificate of another key, not configured", with(expired),
			func() []byte { return attacker.Response(t, h.orgA.SP, alice, samltest.Options{}) }, false},
		{"expired configured certificate in KeyInfo, signed by another key", with(expired), func() []byte {
			doc := attacker.ResponseDoc(t, h.orgA.SP, alice, samltest.Options{})
			setKeyInfo(t, doc.Root(), expired.Raw)
			setKeyInfo(t, assertionOf(t, doc), expired.Raw)
			return h.bytes(doc)
		}, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h.t = t
			a, err := samlsp.ValidateResponse(row.s, row.raw(), "")
			if row.accept && (err != nil || a.NameID != alice.NameID) {
				t.Fatalf("refused: %v", err)
			}
			if !row.accept && !isReason(err, samlsp.ReasonSignature) {
				t.Fatalf("want a signature refusal, got %v", err)
			}
		})
	}
	// A signed IdP logout request (POST: an enveloped signature, goxmldsig's check).
	s := with(expired)
	lr := samltest.LogoutRequest{NameID: "00u1", SessionIndex: "idx", Destination: s.SP.SLSURL}
	if got, err := samlsp.ParseLogoutRequestPost(s, old.LogoutPostForm(t, lr, true), false); err != nil || !got.Signed {
		t.Fatalf("POST LogoutRequest signed by an expired configured certificate: %+v %v", got, err)
	}
	if got, err := samlsp.ParseLogoutRequestRedirect(s, old.LogoutRedirectQuery(lr, "rs", true), false); err != nil || !got.Signed {
		t.Fatalf("Redirect LogoutRequest signed by an expired configured certificate: %+v %v", got, err)
	}
	if _, err := samlsp.ParseLogoutRequestPost(with(renewed), old.LogoutPostForm(t, lr, true), false); err == nil {
		t.Fatal("POST LogoutRequest with an unconfigured expired KeyInfo certificate accepted")
	}
	if _, err := samlsp.ParseLogoutRequestPost(s, attacker.LogoutPostForm(t, lr, true), false); err == nil {
		t.Fatal("POST LogoutRequest signed by another key accepted")
	}
}

// The ACS parses a response once: it looks the request up by the tree's InResponseTo
// (the Response's, else the bearer confirmation's, for an IdP that drops both
// RelayState and the Response attribute), then validates that same tree.
func TestParseResponseOnceForLookupAndValidation(t *testing.T) {
	h, restore := newHostile(t)
	defer restore()
	raw := h.idp.Response(t, h.orgA.SP, samltest.User{NameID: "ada", Attributes: map[string][]string{"email": {"ada@example.com"}}},
		samltest.Options{InResponseTo: "id-req-1"})
	r, err := samlsp.ParseResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.InResponseTo(); got != "id-req-1" {
		t.Fatalf("InResponseTo %q", got)
	}
	if _, err := r.Validate(h.orgA, "id-req-1"); err != nil {
		t.Fatalf("validate the parsed tree: %v", err)
	}
	// Only the bearer confirmation says it (unverified here: the lookup key only).
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	doc.Root().RemoveAttr("InResponseTo")
	stripped, _ := doc.WriteToBytes()
	if r, err := samlsp.ParseResponse(stripped); err != nil || r.InResponseTo() != "id-req-1" {
		t.Fatalf("from the SubjectConfirmationData: %v", err)
	}
	// Unsolicited: none. Not a response: a malformed refusal, no tree.
	un, _ := samlsp.ParseResponse(h.idp.Response(t, h.orgA.SP, samltest.User{NameID: "ada", Attributes: map[string][]string{"email": {"ada@example.com"}}}, samltest.Options{}))
	if un == nil || un.InResponseTo() != "" {
		t.Fatal("an unsolicited response names a request")
	}
	var ve *samlsp.ValidationError
	if r, err := samlsp.ParseResponse([]byte(`<x/>`)); r != nil || !errors.As(err, &ve) || ve.Reason != samlsp.ReasonMalformed {
		t.Fatalf("not a response: %v", err)
	}
}
