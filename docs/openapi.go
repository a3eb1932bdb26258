// Package docs holds the documents the binary serves as they are kept here: the OpenAPI 3.1
// description of the HTTP API (openapi.json), served at /api/openapi.json. The file in this
// directory is the only copy.
package docs

import _ "embed"

// OpenAPI is docs/openapi.json, the OpenAPI 3.1 description of every /api/ route.
//
//go:embed openapi.json
var OpenAPI string
