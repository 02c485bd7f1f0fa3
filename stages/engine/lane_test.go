package engine

import (
	"slices"
	"testing"
	"time"
)

// A lane that is fed as fast as it is served never empties; its queue
// still stays within a small multiple of what it holds, rather than
// growing by every URL that ever passed through it.
func TestLaneQueueStaysBoundedWhileItNeverEmpties(t *testing.T) {
	var l lane
	now := time.Now()
	for i := range 4 {
		l.push(i, now)
	}
	for i := 4; i < 100_000; i++ {
		l.push(i, now)
		if got := l.front().index; got != i-4 {
			t.Fatalf("front %d, want %d: the queue lost its order", got, i-4)
		}
		l.pop(now)
	}
	if l.len() != 4 || cap(l.queue) > 16 {
		t.Errorf("lane holds %d entries in a queue of capacity %d after 100,000 passed; want 4 in at most 16", l.len(), cap(l.queue))
	}
}

func TestCompact(t *testing.T) {
	for _, c := range []struct {
		name     string
		queue    []int
		head     int
		wantHead int
		wantLive []int
	}{
		{"nothing consumed", []int{1, 2}, 0, 0, []int{1, 2}},
		{"empty: starts over", []int{1, 2, 3}, 3, 0, []int{}},
		{"room left: unchanged", append(make([]int, 0, 8), 1, 2, 3), 2, 2, []int{3}},
		{"full, half consumed: moved to the front", []int{1, 2, 3, 4}, 2, 0, []int{3, 4}},
		{"full, little consumed: left to grow", []int{1, 2, 3, 4}, 1, 1, []int{2, 3, 4}},
	} {
		got, head := compact(c.queue, c.head)
		if head != c.wantHead || !slices.Equal(got[head:], c.wantLive) {
			t.Errorf("%s: compact = %v from %d, want %v from %d", c.name, got, head, c.wantLive, c.wantHead)
		}
	}
}
