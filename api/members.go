package api

import (
	"encoding/json"
)

// members splits raw, a JSON object from a valid document, into its members: each key,
// unescaped, with its value's text (a slice of raw, not a copy). A key given twice keeps its
// last value. The result is what json.Unmarshal into a map[string]json.RawMessage gives
// (FuzzMembers checks it), in one pass over raw and one allocation for the map: the API
// decodes every request's objects this way.
func members(raw []byte) map[string]json.RawMessage {
	i := skipSpace(raw, 0) + 1 // past '{'
	m := make(map[string]json.RawMessage, 4)
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return m
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		end := stringEnd(raw, i)
		key, err := jsonString(raw[i:end])
		if err != nil { // cannot happen in valid JSON
			key = string(raw[i:end])
		}
		i = skipSpace(raw, end)
		i = skipSpace(raw, i+1) // past ':'
		end = valueEnd(raw, i)
		m[key] = raw[i:end:end]
		i = end
	}
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at raw[i] (a quote).
func stringEnd(raw []byte, i int) int {
	for i++; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++ // the escaped character
		case '"':
			return i + 1
		}
	}
	return len(raw)
}

// valueEnd returns the index just past the JSON value that starts at raw[i].
func valueEnd(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for ; i < len(raw); i++ {
			switch raw[i] {
			case '"':
				i = stringEnd(raw, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(raw)
	}
	for ; i < len(raw); i++ { // a number, true, false or null
		switch raw[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}
