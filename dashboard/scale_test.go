package dashboard

import "testing"

// TestNiceScale: the reports chart's y axis has round ticks (0, 5, 10; never 0, 2, 5, 7, 10).
func TestNiceScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, top, step int64 }{
		{0, 1, 1}, {1, 1, 1}, {3, 3, 1}, {4, 4, 1}, {7, 8, 2}, {10, 10, 5}, {37, 40, 10}, {101, 150, 50}, {1000, 1000, 500},
	} {
		top, step := niceScale(tc.n)
		if top != tc.top || step != tc.step || top < tc.n || top/step > 4 {
			t.Errorf("niceScale(%d) = %d, %d; want %d, %d", tc.n, top, step, tc.top, tc.step)
		}
	}
}
