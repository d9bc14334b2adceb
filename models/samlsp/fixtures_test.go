package samlsp_test

// Real-IdP vectors: signed responses captured from ADFS/Entra, Google Workspace,
// JumpCloud, Keycloak, Okta and PingOne (SSOReady's testdata, MIT, see
// testdata/real-idps/LICENSE-ssoready), kept in the project so that `go test ./...` on
// a fresh clone runs them. Every assertions/* response must yield its NameID and
// attributes (the okta capture only once repaired, see alteredAfterSigning); every
// bad-assertions/* response must be refused with the reason its folder names.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"gatehouse/models/samlsp"
)

// realIdPFixtures is the in-repo copy of ../shared/fixtures/saml-real-idps.
const realIdPFixtures = "testdata/real-idps"

// realIdPDir is the fixtures folder; its absence is a failure (the copy is part of the
// project), never a skip.
func realIdPDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat(filepath.Join(realIdPFixtures, "assertions")); err != nil || !fi.IsDir() {
		t.Fatalf("real-IdP fixtures missing from %s: %v", realIdPFixtures, err)
	}
	return realIdPFixtures
}

type realParams struct {
	SPEntityID string `json:"sp_entity_id"`
	Now        string `json:"now"`
}

// realVector is one fixture folder, read and decoded.
type realVector struct {
	name     string
	params   realParams
	now      time.Time
	metadata []byte
	response []byte // decoded XML
}

func loadRealVector(t *testing.T, dir string) realVector {
	t.Helper()
	v := realVector{name: filepath.Base(dir)}
	pj, err := os.ReadFile(filepath.Join(dir, "params.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(pj, &v.params); err != nil {
		t.Fatalf("params.json: %v", err)
	}
	if v.now, err = time.Parse(time.RFC3339Nano, v.params.Now); err != nil {
		t.Fatalf("params.json now: %v", err)
	}
	if v.metadata, err = os.ReadFile(filepath.Join(dir, "metadata.xml")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "assertion.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// Some captures are the SAMLResponse form value (base64) rather than XML.
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] != '<' && !bytes.HasPrefix(trimmed, []byte("\xef\xbb\xbf")) {
		if dec, err := samlsp.DecodeResponse(string(trimmed)); err == nil {
			raw = dec
		}
	}
	v.response = raw
	return v
}

// sentResponse is what the IdP sent, read independently of samlsp with encoding/xml so
// the test can say what "as the IdP sent them" means.
type sentResponse struct {
	Destination  string `xml:"Destination,attr"`
	InResponseTo string `xml:"InResponseTo,attr"`
	Assertion    struct {
		Subject struct {
			NameID               string `xml:"urn:oasis:names:tc:SAML:2.0:assertion NameID"`
			SubjectConfirmations []struct {
				Data struct {
					Recipient    string `xml:"Recipient,attr"`
					InResponseTo string `xml:"InResponseTo,attr"`
				} `xml:"urn:oasis:names:tc:SAML:2.0:assertion SubjectConfirmationData"`
			} `xml:"urn:oasis:names:tc:SAML:2.0:assertion SubjectConfirmation"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:assertion Subject"`
		AttributeStatements []struct {
			Attributes []struct {
				Name   string   `xml:"Name,attr"`
				Values []string `xml:"urn:oasis:names:tc:SAML:2.0:assertion AttributeValue"`
			} `xml:"urn:oasis:names:tc:SAML:2.0:assertion Attribute"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:assertion AttributeStatement"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:assertion Assertion"`
}

func readSent(t *testing.T, doc []byte) sentResponse {
	t.Helper()
	var r sentResponse
	if err := xml.Unmarshal(doc, &r); err != nil {
		t.Fatalf("fixture is not readable XML: %v", err)
	}
	return r
}

// acsURL is where the IdP posted the response: its Destination, else the Recipient.
func (r sentResponse) acsURL() string {
	if r.Destination != "" {
		return r.Destination
	}
	for _, sc := range r.Assertion.Subject.SubjectConfirmations {
		if sc.Data.Recipient != "" {
			return sc.Data.Recipient
		}
	}
	return ""
}

// requestID is the AuthnRequest the response answers ("" when unsolicited).
func (r sentResponse) requestID() string {
	if r.InResponseTo != "" {
		return r.InResponseTo
	}
	for _, sc := range r.Assertion.Subject.SubjectConfirmations {
		if sc.Data.InResponseTo != "" {
			return sc.Data.InResponseTo
		}
	}
	return ""
}

func (r sentResponse) attributes() map[string][]string {
	out := map[string][]string{}
	for _, st := range r.Assertion.AttributeStatements {
		for _, a := range st.Attributes {
			for _, v := range a.Values {
				out[a.Name] = append(out[a.Name], strings.TrimSpace(v))
			}
		}
	}
	return out
}

func settingsForVector(t *testing.T, v realVector, idp *samlsp.IdP, sent sentResponse) samlsp.Settings {
	t.Helper()
	acs := sent.acsURL()
	if acs == "" {
		t.Fatal("the fixture names neither a Destination nor a Recipient")
	}
	return samlsp.Settings{
		SP:  samlsp.SP{EntityID: v.params.SPEntityID, ACSURL: acs, SLSURL: acs},
		IdP: *idp,
	}
}

func subdirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// alteredAfterSigning lists captures whose bytes were changed after the IdP signed them,
// with what changed. okta: the certificate inside the signed Assertion's KeyInfo was
// re-indented ("\n" became "\n    ") when the file was saved. The Assertion's own
// signature does not cover its KeyInfo and still verifies, but the Response signature
// covers the whole Assertion, so its digest no longer matches: the capture as stored is
// a response with a broken signature, and refusing it is right. Undoing the
// re-indentation restores the Okta bytes (the Response digest then matches exactly),
// and that version must be accepted. Every Okta-derived bad-assertions/* vector shares
// the defect.
var alteredAfterSigning = map[string]string{
	"okta": "X509Certificate in the signed Assertion re-indented after signing; the Response digest breaks",
}

var certText = regexp.MustCompile(`(<(?:[A-Za-z0-9_]+:)?X509Certificate>)([^<]*)(</(?:[A-Za-z0-9_]+:)?X509Certificate>)`)

// undoReindent reverses the capture's re-indentation of base64 certificate text; it
// reports whether it changed anything.
func undoReindent(raw []byte) ([]byte, bool) {
	out := certText.ReplaceAllFunc(raw, func(m []byte) []byte {
		parts := certText.FindSubmatch(m)
		body := bytes.ReplaceAll(parts[2], []byte("\n    "), []byte("\n"))
		return append(append(append([]byte{}, parts[1]...), body...), parts[3]...)
	})
	return out, !bytes.Equal(out, raw)
}

// TestRealIdPAssertions: every captured response validates at its instant and yields
// the NameID and attributes the IdP sent. Not parallel: it freezes the clock.
func TestRealIdPAssertions(t *testing.T) {
	root := realIdPDir(t)
	dirs := subdirs(t, filepath.Join(root, "assertions"))
	if len(dirs) == 0 {
		t.Fatal("no fixture folders")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			v := loadRealVector(t, dir)
			defer samlsp.FreezeClock(v.now)()
			idp, err := samlsp.ParseMetadata(v.metadata, v.now)
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if idp.EntityID == "" || idp.SSOURL == "" || len(idp.Certs) == 0 {
				t.Fatalf("metadata parsed to %+v", idp)
			}
			sent := readSent(t, v.response)
			s := settingsForVector(t, v, idp, sent)
			reqID := sent.requestID()
			raw := v.response
			a, err := samlsp.ValidateResponse(s, raw, reqID)
			if why, altered := alteredAfterSigning[v.name]; altered {
				// The stored bytes must be refused for their signature...
				var ve *samlsp.ValidationError
				if err == nil {
					t.Fatalf("accepted a capture altered after signing (%s)", why)
				}
				if !errors.As(err, &ve) || ve.Reason != samlsp.ReasonSignature {
					t.Fatalf("altered capture refused for %v, want a signature refusal", err)
				}
				t.Logf("as stored: refused (%s): %v", why, err)
				// ...and the bytes the IdP signed must be accepted.
				var changed bool
				if raw, changed = undoReindent(raw); !changed {
					t.Fatal("nothing to repair")
				}
				a, err = samlsp.ValidateResponse(s, raw, reqID)
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			want := strings.TrimSpace(sent.Assertion.Subject.NameID)
			if a.NameID == "" || a.NameID != want {
				t.Fatalf("NameID %q, the IdP sent %q", a.NameID, want)
			}
			if a.Issuer != idp.EntityID {
				t.Errorf("Issuer %q, metadata entity ID %q", a.Issuer, idp.EntityID)
			}
			if a.ID == "" {
				t.Error("no assertion ID (the replay cache needs it)")
			}
			if a.InResponseTo != reqID {
				t.Errorf("InResponseTo %q, want %q", a.InResponseTo, reqID)
			}
			for name, values := range sent.attributes() {
				if got := a.Attributes[name]; !reflect.DeepEqual(got, values) {
					t.Errorf("attribute %q = %q, the IdP sent %q", name, got, values)
				}
			}
			t.Logf("NameID %q, %d attributes, request %q", a.NameID, len(a.Attributes), reqID)
			// A solicited response is not also valid unsolicited, and vice versa.
			if reqID != "" {
				if _, err := samlsp.ValidateResponse(s, raw, ""); err == nil {
					t.Error("a solicited response was accepted as unsolicited")
				}
			} else if _, err := samlsp.ValidateResponse(s, raw, "id-we-issued"); err == nil {
				t.Error("an unsolicited response was accepted as the answer to a request")
			}
			// Another org (another SP entity ID and ACS) must not accept it.
			other := s
			other.SP = samlsp.NewSP("https://gatehouse.example", "other-org")
			if _, err := samlsp.ValidateResponse(other, raw, reqID); err == nil {
				t.Error("accepted with another org's SP settings")
			}
			// Nor the same org once the assertion has expired.
			restore := samlsp.FreezeClock(v.now.Add(2 * time.Hour))
			_, err = samlsp.ValidateResponse(s, raw, reqID)
			restore()
			if err == nil {
				t.Error("accepted two hours later")
			}
		})
	}
}

// badVectorReasons is, for each bad-assertions folder, the reasons that mean what the
// folder's name says. A folder not listed here must still be refused.
var badVectorReasons = map[string][]string{
	// A year before the response: the signing certificate itself was not yet valid
	// then, which goxmldsig reports first; either refusal is the right one.
	"bad-assertion-expired-early": {samlsp.ReasonConditions, samlsp.ReasonSignature},
	"bad-assertion-expired-late":  {samlsp.ReasonConditions},
	"bad-assertion-utf8":          {samlsp.ReasonMalformed},
	"bad-certificate":             {samlsp.ReasonSignature},
	"bad-digest-algorithm":        {samlsp.ReasonSignature},
	"bad-signature-algorithm":     {samlsp.ReasonSignature},
	"bad-idp-entity-id":           {samlsp.ReasonInvalid},
	"bad-sp-entity-id":            {samlsp.ReasonConditions},
	// The Response signature lost its KeyInfo and the Assertion lost its signature,
	// which also breaks the Response digest.
	"no-certificate":     {samlsp.ReasonSignature},
	"unsigned-assertion": {samlsp.ReasonSignature},
}

// TestRealIdPBadAssertions: every bad vector is refused, with the matching reason.
func TestRealIdPBadAssertions(t *testing.T) {
	root := realIdPDir(t)
	dirs := subdirs(t, filepath.Join(root, "bad-assertions"))
	if len(dirs) == 0 {
		t.Fatal("no fixture folders")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			v := loadRealVector(t, dir)
			defer samlsp.FreezeClock(v.now)()
			idp, err := samlsp.ParseMetadata(v.metadata, v.now)
			if err != nil {
				// Refused at registration: as good as refused at the ACS.
				t.Logf("refused by ParseMetadata: %v", err)
				return
			}
			// Use the ACS URL and request ID the response names, so that only the
			// defect the folder is about can cause the refusal.
			var sent sentResponse
			if xml.Unmarshal(v.response, &sent) != nil {
				sent.Destination = "http://localhost:8080"
			}
			s := settingsForVector(t, v, idp, sent)
			refusal := func(raw []byte) *samlsp.ValidationError {
				t.Helper()
				a, err := samlsp.ValidateResponse(s, raw, sent.requestID())
				if err == nil {
					t.Fatalf("accepted: NameID %q", a.NameID)
				}
				var ve *samlsp.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("not a *ValidationError: %T %v", err, err)
				}
				return ve
			}
			ve := refusal(v.response)
			t.Logf("as stored: refused: %v", ve)
			// The Okta-derived vectors share the okta capture's post-signing
			// re-indentation, which alone breaks the Response signature: check the
			// reason on the repaired bytes so that the folder's own defect is what
			// causes the refusal.
			if repaired, changed := undoReindent(v.response); changed {
				ve = refusal(repaired)
				t.Logf("repaired: refused: %v", ve)
			}
			// Without the Response signature, the Assertion's own signature is what
			// must carry the response: the folder's defect must still refuse it, and
			// the algorithm vectors must be refused by the algorithm policy itself.
			if unsigned, ok := withoutResponseSignature(v.response); ok {
				if repaired, changed := undoReindent(unsigned); changed {
					unsigned = repaired
				}
				inner := refusal(unsigned)
				t.Logf("response signature removed: refused: %v", inner)
				if strings.Contains(v.name, "algorithm") && !strings.Contains(inner.Detail, "algorithm") {
					t.Errorf("refused for %q, not for its algorithm", inner.Detail)
				}
			}
			if want, ok := badVectorReasons[v.name]; ok {
				found := false
				for _, r := range want {
					found = found || ve.Reason == r
				}
				if !found {
					t.Errorf("reason %q, want one of %q (%s)", ve.Reason, want, ve.Detail)
				}
			}
		})
	}
}

// withoutResponseSignature removes the Response's own ds:Signature, if it has one.
func withoutResponseSignature(raw []byte) ([]byte, bool) {
	doc := etree.NewDocument()
	if doc.ReadFromBytes(raw) != nil || doc.Root() == nil {
		return nil, false
	}
	removed := false
	for _, c := range doc.Root().ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == "http://www.w3.org/2000/09/xmldsig#" {
			doc.Root().RemoveChild(c)
			removed = true
		}
	}
	if !removed {
		return nil, false
	}
	out, err := doc.WriteToBytes()
	return out, err == nil
}
