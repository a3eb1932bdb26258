package dashboard

import (
	"fmt"

	"github.com/codex-dominion/dominion/workflow"
)

// The workflow page's drawing of a graph type: the steps in columns by depth (a step sits one
// column right of the deepest step it needs), each a box in its state's colours, and an arrow
// from each step to the steps that need it. The geometry is computed here, so that the
// template only draws (server-rendered SVG: no script, nothing the page's CSP refuses).

// Sizes of the drawing, in SVG units (pixels at 100 %).
const (
	nodeW, nodeH = 150, 46
	colGap       = 56
	rowGap       = 18
	margin       = 8
)

type graphView struct {
	Width, Height int
	Nodes         []graphNode
	Edges         []graphEdge
}

type graphNode struct {
	X, Y, W, H int
	Name, Kind string
	State      string
	Tries      int
	Error      string
}

type graphEdge struct {
	D     string // the SVG path
	State string // the state of the step the arrow leaves (done: drawn solid)
}

// layoutGraph lays out typ's steps, each in the state rows gives it (rows[i] is step i).
func layoutGraph(typ workflow.Type, rows []stepRow) *graphView {
	needs := typ.Needs()
	depth := make([]int, len(needs))
	// A step may need a step listed after it: relax until nothing moves (the needs of a
	// valid type make no cycle, so this ends).
	for changed := true; changed; {
		changed = false
		for j := range needs {
			for _, k := range needs[j] {
				if depth[k]+1 > depth[j] {
					depth[j], changed = depth[k]+1, true
				}
			}
		}
	}
	perCol := map[int]int{}
	g := &graphView{}
	for i, row := range rows[:len(needs)] {
		col, r := depth[i], perCol[depth[i]]
		perCol[col]++
		n := graphNode{X: margin + col*(nodeW+colGap), Y: margin + r*(nodeH+rowGap), W: nodeW, H: nodeH,
			Name: row.Name, Kind: row.Kind, State: row.State, Tries: row.Tries, Error: row.Error}
		g.Nodes = append(g.Nodes, n)
		g.Width, g.Height = max(g.Width, n.X+nodeW+margin), max(g.Height, n.Y+nodeH+margin)
	}
	for i, ns := range needs {
		to := g.Nodes[i]
		for _, k := range ns {
			from := g.Nodes[k]
			x1, y1, x2, y2 := from.X+from.W, from.Y+from.H/2, to.X-4, to.Y+to.H/2
			mid := (x1 + x2) / 2
			g.Edges = append(g.Edges, graphEdge{State: from.State,
				D: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mid, y1, mid, y2, x2, y2)})
		}
	}
	return g
}
