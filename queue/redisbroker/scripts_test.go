package redisbroker

import (
	"strings"
	"testing"
)

func TestWithLibTakesWhatTheScriptUses(t *testing.T) {
	t.Parallel()
	lib := parseLib(`-- a comment above
local function a(x)
  return x
end

local tbl = {
  k = 1,
}
local function b(x) return a(x) + tbl.k end
local function wake(base)
  -- a comment inside, kept
  return base
end
local function unused() return b(1) end
local HELD = 4
`)
	var names []string
	for _, d := range lib {
		names = append(names, d.name)
	}
	if got := strings.Join(names, " "); got != "a tbl b wake unused HELD" {
		t.Fatalf("definitions %q, want a tbl b wake unused HELD", got)
	}
	got := withLib(lib, "local wakeKeys = 1\nreturn b(HELD)\n")
	want := "local function a(x)\n  return x\nend\n" +
		"local tbl = {\n  k = 1,\n}\n" +
		"local function b(x) return a(x) + tbl.k end\n" +
		"local HELD = 4\n" +
		"local wakeKeys = 1\nreturn b(HELD)\n"
	if got != want {
		t.Fatalf("withLib gave\n%s\nwant (b and what it uses, HELD; not wake, whose name is only part of wakeKeys, nor unused)\n%s", got, want)
	}
}

func TestParseLibRefusesStatements(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"local function a() end\nredis.call('PING')\n", "local a, b = 1, 2\n"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("parseLib(%q) took it, want a panic: lib.lua holds only definitions of one name each", src)
				}
			}()
			parseLib(src)
		}()
	}
}

// Every lib.lua definition is used by some script, and every script that names one gets it.
func TestEveryLibDefinitionIsUsed(t *testing.T) {
	t.Parallel()
	lib := parseLib(readLua("lib"))
	entries, err := luaFS.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" {
			continue
		}
		s := withLib(lib, readLua(name))
		for _, d := range lib {
			if strings.Contains(s, d.text) {
				used[d.name] = true
			} else if usesName(readLua(name), d.name) {
				t.Errorf("%s.lua uses %s but its script does not define it", name, d.name)
			}
		}
	}
	for _, d := range lib {
		if !used[d.name] {
			t.Errorf("lib.lua defines %s, which no script uses: delete it", d.name)
		}
	}
}
