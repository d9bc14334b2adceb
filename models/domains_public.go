package models

// publicMailDomains are mail services where anyone can get an address: no
// organization can verify them (README "Verified domains"). Keep the list sorted by
// provider; add a domain with a line here (TestDomainVerifyLoseReverify refuses two of them).
var publicMailDomains = setOf(
	// Google
	"gmail.com", "googlemail.com",
	// Microsoft
	"outlook.com", "outlook.de", "outlook.fr", "outlook.es", "outlook.it", "outlook.jp",
	"hotmail.com", "hotmail.co.uk", "hotmail.de", "hotmail.fr", "hotmail.es", "hotmail.it",
	"live.com", "live.co.uk", "live.de", "live.fr", "live.nl", "msn.com", "passport.com",
	// Yahoo / AOL
	"yahoo.com", "yahoo.co.uk", "yahoo.co.jp", "yahoo.de", "yahoo.fr", "yahoo.es", "yahoo.it",
	"yahoo.com.br", "yahoo.in", "ymail.com", "rocketmail.com", "aol.com", "aim.com",
	// Apple
	"icloud.com", "me.com", "mac.com",
	// Proton, Tuta, Fastmail and other independent services
	"proton.me", "protonmail.com", "protonmail.ch", "pm.me",
	"tutanota.com", "tutanota.de", "tutamail.com", "tuta.io", "tuta.com",
	"fastmail.com", "fastmail.fm", "hey.com", "hushmail.com", "mailfence.com", "posteo.de",
	"posteo.net", "runbox.com", "disroot.org", "riseup.net", "zoho.com", "zohomail.com",
	"gmx.com", "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "mail.com", "email.com",
	"inbox.com", "lycos.com",
	// Regional services
	"yandex.ru", "yandex.com", "ya.ru", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru",
	"qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com",
	"naver.com", "daum.net", "hanmail.net", "rediffmail.com",
	"seznam.cz", "centrum.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl",
	"orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
	"t-online.de", "freenet.de", "libero.it", "virgilio.it", "tiscali.it",
	"btinternet.com", "virginmedia.com", "sky.com", "talktalk.net",
	"comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net", "charter.net",
	"earthlink.net", "juno.com", "bigpond.com", "optusnet.com.au", "shaw.ca", "rogers.com",
	"uol.com.br", "bol.com.br", "terra.com.br",
	// Disposable-address services
	"mailinator.com", "guerrillamail.com", "10minutemail.com", "temp-mail.org", "yopmail.com",
)

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// IsPublicMailDomain reports whether domain (lower case) is a public mail service.
func IsPublicMailDomain(domain string) bool { return publicMailDomains[domain] }
