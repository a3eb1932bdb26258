package api

import "strconv"

// maxJSONDepth bounds the nesting of objects and arrays in stored JSON (a workflow's context,
// a job's payload): deeper values are refused rather than handed to the database's JSON
// functions, whose own limits differ (SQLite's is 1,000 levels).
const maxJSONDepth = 64

// checkJSONText says what makes the valid JSON value raw unfit to store in every store: ""
// when nothing, else why. PostgreSQL refuses a NUL character (\u0000) and an unpaired UTF-16
// surrogate (a lone \ud800) in text and jsonb, which SQLite would keep: both are refused
// here, so that the answer is the same 400 on every store. Nesting deeper than maxJSONDepth
// is refused too.
func checkJSONText(raw []byte) string {
	if !cleanEscapes(raw) {
		return "holds a string with a NUL character (\\u0000) or an unpaired UTF-16 surrogate"
	}
	if jsonDepth(raw) > maxJSONDepth {
		return "is nested more than " + strconv.Itoa(maxJSONDepth) + " levels deep"
	}
	return ""
}

// jsonDepth returns the deepest nesting of objects and arrays in the valid JSON raw.
func jsonDepth(raw []byte) int {
	depth, deepest := 0, 0
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case inString && c == '\\':
			i++ // the escaped character
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
