package samlsp_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// comparisonSizes are the attribute counts of the python3-saml comparison: the
// 3-attribute response, 450 attributes, and two near the 384 KiB decoded limit.
var comparisonSizes = []int{3, 450, 2000, 2500}

// TestWriteComparisonResponses writes the benchmark's responses and the settings to
// validate them for testdata/bench_python3_saml.py (python3-saml, Debian's
// python3-onelogin-saml2), when GATEHOUSE_WRITE_BENCH_RESPONSES names a folder:
//
//	GATEHOUSE_WRITE_BENCH_RESPONSES=/tmp/cmp go test ./models/samlsp -run TestWriteComparisonResponses
//	/usr/bin/python3 models/samlsp/testdata/bench_python3_saml.py /tmp/cmp
func TestWriteComparisonResponses(t *testing.T) {
	dir := os.Getenv("GATEHOUSE_WRITE_BENCH_RESPONSES")
	if dir == "" {
		t.Skip("set GATEHOUSE_WRITE_BENCH_RESPONSES to a folder")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, attrs := range comparisonSizes {
		s, raw := benchResponse(t, attrs)
		// Each response is signed by a new IdP key: one settings file each.
		settings := map[string]string{"sp_entity_id": s.SP.EntityID, "acs_url": s.SP.ACSURL, "idp_entity_id": s.IdP.EntityID,
			"idp_sso_url": s.IdP.SSOURL, "idp_cert": base64.StdEncoding.EncodeToString(s.IdP.Certs[0])}
		js, _ := json.Marshal(settings)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("settings-%d.json", attrs)), js, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("response-%d.xml", attrs)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
