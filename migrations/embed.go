// Package migrations holds the SQL migrations, applied in name order at startup.
// A migration is never edited after it lands: add a new file instead.
package migrations

import "embed"

// FS holds NNNNNNNNNNNNNN_name.(tx.)up.sql and .down.sql files.
//
//go:embed *.sql
var FS embed.FS
