package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// mdLink matches a Markdown link's target: [text](target), without a title.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinks checks every relative link of the manual: the file it names exists, and its
// #anchor is a heading of that file (as GitHub makes anchors of headings).
func TestLinks(t *testing.T) {
	t.Parallel()
	pages := manualPages(t)
	anchors := map[string]map[string]bool{}
	for _, page := range pages {
		text := readText(t, page)
		for _, m := range mdLink.FindAllStringSubmatch(withoutCode(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := page
			if path != "" {
				file = filepath.Join(filepath.Dir(page), filepath.FromSlash(path))
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: link %s: no such file", page, target)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			if anchors[file] == nil {
				anchors[file] = headingAnchors(readText(t, file))
			}
			if !anchors[file][anchor] {
				t.Errorf("%s: link %s: %s has no heading with that anchor", page, target, file)
			}
		}
	}
}

// manualPages returns the Markdown files of the manual: docs/, the README at the root and
// those under clients/ and examples/.
func manualPages(t *testing.T) []string {
	t.Helper()
	var pages []string
	for _, pattern := range []string{"*.md", "../README.md", "../clients/*/README.md", "../examples/*/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, m...)
	}
	if len(pages) < 10 {
		t.Fatalf("found %d pages of the manual (%v): run the test from docs/", len(pages), pages)
	}
	return pages
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutCode returns text without its fenced code blocks, whose brackets are code.
func withoutCode(text string) string {
	var b strings.Builder
	fenced := false
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(line)
		}
	}
	return b.String()
}

// headingAnchors returns the anchors GitHub gives the headings of text (anchorOf); a
// repeated heading gets -1, -2… after the first.
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for line := range strings.Lines(withoutCode(text)) {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		a := anchorOf(strings.TrimLeft(line, "#"))
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// anchorOf is GitHub's anchor of a heading: lower case, letters, marks, digits, '_' and '-'
// kept, spaces made '-', every other character dropped.
func anchorOf(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Pc):
			b.WriteRune(r)
		}
	}
	return b.String()
}
