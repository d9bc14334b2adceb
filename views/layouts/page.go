// Package layouts holds the page frame and the view model every page shares.
package layouts

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
