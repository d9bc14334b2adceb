package pages

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

func withNext(path, next string) string {
	if next == "" {
		return path
	}
	return path + "?next=" + url.QueryEscape(next)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func roleLabel(r string) string {
	switch r {
	case "member":
		return "Member"
	case "admin":
		return "Admin"
	case "manager":
		return "Manager"
	case "owner":
		return "Owner"
	case "billing":
		return "Billing"
	}
	return r
}

func joinedLabel(v string) string {
	switch v {
	case "creator":
		return "Created the organization"
	case "invite":
		return "Invitation"
	case "sso":
		return "SSO just-in-time"
	case "scim":
		return "SCIM"
	case "cli":
		return "CLI"
	}
	return v
}

func joinTeams(ts []string) string {
	if len(ts) == 0 {
		return "—"
	}
	return strings.Join(ts, ", ")
}

type segment struct{ Text, URL string }

var urlRe = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkSegments splits text into plain parts and URLs, so a kept email's links can be
// clicked on the dev mail page.
func linkSegments(text string) []segment {
	var out []segment
	last := 0
	for _, loc := range urlRe.FindAllStringIndex(text, -1) {
		if loc[0] > last {
			out = append(out, segment{Text: text[last:loc[0]]})
		}
		out = append(out, segment{URL: text[loc[0]:loc[1]]})
		last = loc[1]
	}
	if last < len(text) {
		out = append(out, segment{Text: text[last:]})
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
