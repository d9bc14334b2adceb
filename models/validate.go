package models

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var slugRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$`)

// NormalizeEmail trims an address; comparisons elsewhere are case-insensitive.
func NormalizeEmail(s string) string { return strings.TrimSpace(s) }

func validEmail(s string) (string, bool) {
	s = NormalizeEmail(s)
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " <>\"\r\n") {
		return s, false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") {
		return s, false
	}
	return s, true
}

func checkEmail(v *ValidationError, field, s string) string {
	s = NormalizeEmail(s)
	switch {
	case s == "":
		v.Add(field, "Enter an email address.")
	case len(s) > 254:
		v.Add(field, "The email address is too long (254 characters at most).")
	default:
		if _, ok := validEmail(s); !ok {
			v.Add(field, "Enter a valid email address, like name@example.com.")
		}
	}
	return s
}

func checkText(v *ValidationError, field, s, label string, required bool, max int) string {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		v.Add(field, "Enter "+label+".")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, label+" is too long (at most "+strconv.Itoa(max)+" characters).")
	case strings.ContainsAny(s, "\x00\r\n"):
		v.Add(field, label+" cannot contain line breaks.")
	}
	return s
}

func checkSlug(v *ValidationError, field, s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		v.Add(field, "Enter a slug.")
	case len(s) > 50:
		v.Add(field, "The slug is too long (at most 50 characters).")
	case !slugRe.MatchString(s):
		v.Add(field, "Use lowercase letters, digits and hyphens, starting and ending with a letter or digit.")
	case strings.Trim(s, "0123456789") == "":
		// A numeric slug would shadow another org's id in the SCIM base URL.
		v.Add(field, "A slug needs at least one letter or hyphen.")
	}
	return s
}

// Slugify turns a name into a slug suggestion.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 50 {
		s = strings.Trim(s[:50], "-")
	}
	return s
}

func checkPassword(v *ValidationError, field, pw string) {
	switch {
	case pw == "":
		v.Add(field, "Enter a password.")
	case utf8.RuneCountInString(pw) < 8:
		v.Add(field, "Use at least 8 characters.")
	case len(pw) > 256:
		v.Add(field, "The password is too long (at most 256 characters).")
	}
}

// ValidSlug reports whether s (lower case) has the form of an org slug.
func ValidSlug(s string) bool {
	v := &ValidationError{}
	return checkSlug(v, "slug", s) == s && v.Err() == nil
}
