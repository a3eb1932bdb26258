// Package docs holds the documents the binary serves as they are kept here: the OpenAPI 3.1
// description of the HTTP API (openapi.json), served at /api/openapi.json. The file in this
// directory is the only copy.
//
// Its tests keep the manual (the Markdown files here, and the READMEs) true to the
// repository: architecture.md names every package, and every relative link names a file
// that exists and an anchor that is a heading of it.
package docs

import _ "embed"

// OpenAPI is docs/openapi.json, the OpenAPI 3.1 description of every /api/ route.
//
//go:embed openapi.json
var OpenAPI string
