package connectors

import "github.com/fetchstream/fetchstream/wire"

// summaryCount is a batch's summary counts as the Publisher handled its
// results: one per index, by the kind of the result that went out (or,
// for a canceled result withheld for redelivery, that would have). The
// publisher is their one owner: a result that went out as
// unexpected_error after a panic, in the encode stage or while
// publishing, is counted as what went out, and the summary needs no
// recount afterwards.
type summaryCount struct {
	ok, failed int
	errors     map[wire.ErrorKind]int // nil while nothing failed
}

// add counts one result of kind ("" is a success).
func (c *summaryCount) add(kind wire.ErrorKind) {
	if kind == "" {
		c.ok++
		return
	}
	c.failed++
	if c.errors == nil {
		c.errors = map[wire.ErrorKind]int{}
	}
	c.errors[kind]++
}

// results is the number of results counted.
func (c *summaryCount) results() int { return c.ok + c.failed }

// into writes the counts over s's OK, Failed and Errors; its other fields
// (id, count, elapsed time, a batch-level error) are the fetch stage's.
func (c *summaryCount) into(s *wire.Summary) {
	s.OK, s.Failed, s.Errors = c.ok, c.failed, c.errors
}
