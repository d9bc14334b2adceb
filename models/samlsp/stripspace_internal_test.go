package samlsp

import (
	"regexp"
	"testing"
)

// stripSpace removes exactly what the regexp `\s+` it replaced did (issue 12), no
// more (a non-ASCII space stays, and then fails base64 as before) and no less.
func TestStripSpaceIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`\s+`)
	check := func(s string) {
		t.Helper()
		if got, want := stripSpace(s), re.ReplaceAllString(s, ""); got != want {
			t.Errorf("stripSpace(%q) = %q, the regexp gives %q", s, got, want)
		}
	}
	for _, s := range []string{"", "QUJD", " QU\tJD\n", "\r\n  QUJD\f==\v", "QU\u00a0JD", "QU\u2003JD\u0085", "\x00 \xff", "a b\tc\nd\re\ff\vg"} {
		check(s)
	}
	// Every byte, alone and between base64 characters.
	for b := 0; b < 256; b++ {
		check(string([]byte{byte(b)}))
		check("QU" + string([]byte{byte(b)}) + "JD")
	}
}

func FuzzStripSpace(f *testing.F) {
	re := regexp.MustCompile(`\s+`)
	f.Add("MIIC\n  8DCC\tAdig==\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := stripSpace(s), re.ReplaceAllString(s, ""); got != want {
			t.Errorf("stripSpace(%q) = %q, the regexp gives %q", s, got, want)
		}
	})
}
