// Package yamlfile decodes the YAML files people write by hand (workflow types, queue limits,
// HTTP handlers) the one way all of them are read: one document, strictly (a field the file's
// type does not have is an error, not ignored: a misspelt key must not pass unnoticed), and
// with errors that read as the file's own, not the YAML library's ("line 3: field x not found
// in type …", without its "yaml: " prefix), while errors.As still finds the library's error.
package yamlfile
