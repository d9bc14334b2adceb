// Package layouts holds the page frame and the view model every page shares.
package layouts

import "strings"

// Page is what the frame needs: title, the CSRF token, the signed-in user, the current
// org (for its navigation) and a flash message.
type Page struct {
	Title     string
	CSRF      string
	User      *NavUser
	Org       *NavOrg
	Section   string // highlights the org navigation entry
	Flash     string
	FlashKind string // "" (success) or "error"
	DevMail   bool   // show the dev outbox link
}

// NavUser is the signed-in user as the header shows them.
type NavUser struct {
	Name  string
	Email string
}

// NavOrg is the current org as the navigation shows it.
type NavOrg struct {
	Slug        string
	Name        string
	Role        string
	CanManage   bool
	CanAudit    bool
	CanSeeTeams bool
}

// initial is the first letter of name, upper-cased, for the org's monogram.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}
