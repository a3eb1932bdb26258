package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// FuzzMembers checks that members splits every valid JSON object as json.Unmarshal into a
// map[string]json.RawMessage does: the same keys (escaped ones unescaped, the last of a
// repeated key kept) with the same value texts. `go test -fuzz FuzzMembers ./api` explores
// further than the seeds.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		seed, `{}`, ` { } `, `{"a":1}`, "{\n\t\"a\" :\r 1 , \"b\":[1,{\"c\":\"}\"}] }",
		`{"a":"x\"y","b":"\\","c":{"d":"]"},"e":[[],{}],"f":true,"g":false,"h":null,"i":-1.5e-3}`,
		`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"a\"b":1,"":2,"\ud83d\ude00":3}`,
		`{"a":{"b":{"c":[1,[2,[3]]]}},"z":"\u0000"}`, `{"k":""}`, `{"k":"\\\\"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSpace(raw)
		if !json.Valid(raw) || jsonKind(raw) != "object" {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", raw, err)
		}
		got := members(raw)
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("members(%q)\n = %q\nwant %q", raw, got, want)
		}
	})
}
