package samlsp_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// fuzzNow is the fixed instant of the fuzz target: its committed corpus
// (testdata/fuzz/FuzzDifferential) was signed then, with the test-only key in
// testdata/fuzz-idp, so it stays valid.
var fuzzNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

const fuzzRequestID = "id-fuzz-request"

func fuzzIdP(tb testing.TB) (*samltest.IdP, samlsp.Settings) {
	tb.Helper()
	read := func(name string) *pem.Block {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz-idp", name))
		if err != nil {
			tb.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			tb.Fatalf("%s: no PEM", name)
		}
		return blk
	}
	key, err := x509.ParsePKCS1PrivateKey(read("key.pem").Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(read("cert.pem").Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	idp := samltest.NewWithKey("https://idp.example", key, cert)
	return idp, samlsp.Settings{SP: samlsp.NewSP("https://gatehouse.example", "acme"), IdP: idp.Settings()}
}

// fuzzSeeds are valid responses at fuzzNow: both signed, solicited, and with a few
// attribute shapes; the fuzzer mutates them.
func fuzzSeeds(tb testing.TB, idp *samltest.IdP, s samlsp.Settings) [][]byte {
	u := samltest.User{NameID: "00u1", Attributes: map[string][]string{
		"email": {"alice@example.com"}, "firstName": {"Alice"}, "groups": {"eng", "ops"}}}
	return [][]byte{
		idp.Response(tb, s.SP, u, samltest.Options{Now: fuzzNow}),
		idp.Response(tb, s.SP, u, samltest.Options{Now: fuzzNow, InResponseTo: fuzzRequestID}),
		idp.Response(tb, s.SP, samltest.User{NameID: "x"}, samltest.Options{Now: fuzzNow}),
	}
}

// FuzzDifferential feeds mutated responses to the single-parse path; whatever it
// accepts must also pass crewjam's path and gosaml2 (no refusal for a signature,
// audience, time or wrapping reason), and nothing may panic inside the path.
//
//	go test ./models/samlsp -run '^$' -fuzz FuzzDifferential -fuzztime 5m
func FuzzDifferential(f *testing.F) {
	idp, s := fuzzIdP(f)
	restore := samlsp.FreezeClock(fuzzNow)
	defer restore()
	for _, seed := range fuzzSeeds(f, idp, s) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > samlsp.MaxDecodedResponse {
			return
		}
		for _, reqID := range []string{"", fuzzRequestID} {
			_, err := samlsp.ValidateResponse(s, raw, reqID)
			if err != nil && strings.Contains(err.Error(), "parser panic") {
				t.Fatalf("a panic inside the single-parse path: %v", err)
			}
			if err == nil {
				var st diffStats
				differential(t, &st, "fuzz", s, raw, reqID, fuzzNow)
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpus when
// GATEHOUSE_WRITE_FUZZ_CORPUS=1 (the seeds are signed at fuzzNow with the test key).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GATEHOUSE_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set GATEHOUSE_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzDifferential seeds")
	}
	idp, s := fuzzIdP(t)
	defer samlsp.FreezeClock(fuzzNow)()
	dir := filepath.Join("testdata", "fuzz", "FuzzDifferential")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, seed := range fuzzSeeds(t, idp, s) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzCorpusSeedsAccepted: the committed seeds are valid responses at fuzzNow, so
// the fuzzer mutates accepted inputs (a corpus of refused inputs would test little).
func TestFuzzCorpusSeedsAccepted(t *testing.T) {
	_, s := fuzzIdP(t)
	defer samlsp.FreezeClock(fuzzNow)()
	paths, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDifferential", "seed-*"))
	if len(paths) == 0 {
		t.Fatal("no committed seeds")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		q := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		raw, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		_, err1 := samlsp.ValidateResponse(s, []byte(raw), "")
		_, err2 := samlsp.ValidateResponse(s, []byte(raw), fuzzRequestID)
		if err1 != nil && err2 != nil {
			t.Errorf("%s refused: %v / %v", p, err1, err2)
		}
	}
}
