package workflow

import (
	"errors"
	"fmt"
	"strings"

	"github.com/codex-dominion/dominion/store"
)

// Graph reports whether t's steps run as a graph: one of them has Needs.
func (t Type) Graph() bool {
	for _, s := range t.Steps {
		if s.Needs != nil {
			return true
		}
	}
	return false
}

// Needs returns, for each step, the indexes of the steps it needs: its Needs, or the step
// before it when Needs is nil. t must be valid (Registry's types are).
func (t Type) Needs() [][]int {
	index := make(map[string]int, len(t.Steps))
	for i, s := range t.Steps {
		index[s.Name] = i
	}
	out := make([][]int, len(t.Steps))
	for i, s := range t.Steps {
		switch {
		case s.Needs != nil:
			out[i] = make([]int, 0, len(s.Needs))
			for _, n := range s.Needs {
				out[i] = append(out[i], index[n])
			}
		case i > 0:
			out[i] = []int{i - 1}
		}
	}
	return out
}

// storeGraph is t's graph as the store takes it.
func (t Type) storeGraph() store.Graph {
	names := make([]string, len(t.Steps))
	for i, s := range t.Steps {
		names[i] = s.Name
	}
	return store.Graph{Names: names, Needs: t.Needs()}
}

// stepIndex returns the index of t's step called name.
func (t Type) stepIndex(name string) (int, bool) {
	for i, s := range t.Steps {
		if s.Name == name {
			return i, true
		}
	}
	return 0, false
}

// checkNeeds checks the steps' needs: each names another step of t, once, and they make no
// cycle. Step names are unique and checked already.
func checkNeeds(t Type) error {
	index := make(map[string]int, len(t.Steps))
	for i, s := range t.Steps {
		index[s.Name] = i
	}
	for i, s := range t.Steps {
		seen := map[string]bool{}
		for _, n := range s.Needs {
			j, ok := index[n]
			switch {
			case !ok:
				return &stepError{typ: t.Name, index: i, name: s.Name,
					err: fmt.Errorf("needs unknown step %q (steps: %s)", n, strings.Join(stepNames(t), ", "))}
			case j == i:
				return &stepError{typ: t.Name, index: i, name: s.Name, err: errors.New("needs itself")}
			case seen[n]:
				return &stepError{typ: t.Name, index: i, name: s.Name, err: fmt.Errorf("needs %q twice", n)}
			}
			seen[n] = true
		}
	}
	if cycle := findCycle(t); cycle != nil {
		names := make([]string, len(cycle))
		for k, i := range cycle {
			names[k] = t.Steps[i].Name
		}
		return &stepError{typ: t.Name, index: cycle[0], name: names[0],
			err: fmt.Errorf("its needs make a cycle: %s", strings.Join(names, " → "))}
	}
	return nil
}

func stepNames(t Type) []string {
	out := make([]string, len(t.Steps))
	for i, s := range t.Steps {
		out[i] = s.Name
	}
	return out
}

// findCycle returns a cycle of t's needs (the first step repeated at its end), or nil.
func findCycle(t Type) []int {
	needs := t.Needs()
	const (
		unseen = iota
		onPath
		finished
	)
	state := make([]int, len(needs))
	var path []int
	var visit func(i int) []int
	visit = func(i int) []int {
		state[i] = onPath
		path = append(path, i)
		for _, j := range needs[i] {
			switch state[j] {
			case onPath:
				for k, p := range path {
					if p == j {
						return append(append([]int{}, path[k:]...), j)
					}
				}
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = finished
		return nil
	}
	for i := range needs {
		if state[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}
