// Package static holds the vendored htmx and Pico CSS, app.css and app.js, served
// under /static/ from the binary.
package static

import "embed"

// FS is the content of this folder.
//
//go:embed *.js *.css
var FS embed.FS
