// Package envexpand owns the one way Dominion's YAML files (workflow types, HTTP job handlers)
// refer to the environment: ${VAR} is replaced by the value of VAR. Only that form is expanded
// (a lone $ stays as it is), and a variable that is not set, or empty, is an error, never an
// empty string: a URL or a secret silently left empty would send requests elsewhere or turn
// signing off.
package envexpand
