package connectors

// waitingCredit lends a JetStreamSource one more slot per batch that the
// pipeline holds only waiting (for its hosts: see engine.FetchConfig's
// MaxWaiting), so the source pulls as the fetch stage takes batches: such
// a batch neither holds the source's credit nor lets it pull batches that
// would sit unseen in its buffers. A slot lent is taken back when the
// batch is busy again: at once when the slot is free, else as the next
// message is settled (debt). Guarded by JetStreamSource.waitMu.
type waitingCredit struct {
	lent int // slots added for waiting batches, at most MaxWaiting
	debt int // slots to take back from the next ones freed
}

// SetWaiting tells the source that n of the batches it emitted only wait:
// it may then hold MaxPending+n messages unsettled (n at most MaxWaiting).
// It never blocks; the pipeline's fetch stage calls it as n changes.
func (s *JetStreamSource) SetWaiting(n int) {
	n = min(max(n, 0), s.cfg.MaxWaiting)
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	w := &s.waiting
	for ; w.lent < n; w.lent++ {
		if w.debt > 0 {
			w.debt--
			continue
		}
		s.slots <- struct{}{} // room: the channel holds MaxPending+MaxWaiting
	}
	for ; w.lent > n; w.lent-- {
		select {
		case <-s.slots:
		default:
			w.debt++
		}
	}
}

// repay takes what is owed out of n slots freed, and returns what is left
// to give back.
func (s *JetStreamSource) repay(n int) int {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	paid := min(n, s.waiting.debt)
	s.waiting.debt -= paid
	return n - paid
}
