package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchitectureListsEveryPackage checks that architecture.md, the map of the code, names
// every directory that holds Go code (a package, or the bench/ module's), as `dir` in its
// table, and the parts that are not Go.
func TestArchitectureListsEveryPackage(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{"clients/python": true, "examples/flask": true}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") {
			rel, _ := filepath.Rel("..", filepath.Dir(path))
			dirs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		top, _, _ := strings.Cut(dir, "/")
		named := strings.Contains(string(doc), "`"+dir+"`") ||
			top == "bench" && strings.Contains(string(doc), "`bench/` (own Go module)")
		if dir != "." && !named {
			t.Errorf("architecture.md does not name `%s`", dir)
		}
	}
}
