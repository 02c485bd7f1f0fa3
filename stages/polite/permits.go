package polite

// This file is a Gate's cap when a fleet shares it (see UsePermits): the
// gate lets no more requests be in flight than the permits this replica
// holds of the fleet's cap for the host, which the fleet grants and takes
// back as the replicas' demand shifts. Cost: O(1) per call.

// UsePermits makes the gate's cap, when it has one, the fleet's: at most
// the permits given with SetPermits are in flight (none until the first),
// and never more than the cap itself.
func (g *Gate) UsePermits() {
	if g.limit > 0 {
		g.permitted = true
	}
}

// SetPermits sets how many requests this replica may have in flight to
// the host, of the fleet's cap: 0 holds every URL. Fewer than are in
// flight hold the URLs until enough have ended.
func (g *Gate) SetPermits(n int) { g.permits = max(n, 0) }

// Permitted reports whether the gate's cap is the fleet's.
func (g *Gate) Permitted() bool { return g.permitted }

// Permits is the permits the gate holds of the fleet's cap.
func (g *Gate) Permits() int { return g.permits }

// Cap is the fleet-wide cap on requests in flight (the gate's own with no
// fleet); 0: none.
func (g *Gate) Cap() int { return g.limit }

// InFlight counts the requests that passed the gate and have not ended.
func (g *Gate) InFlight() int { return g.inFlight }

// capNow is the cap in force: the permits held when the fleet shares the
// cap (0 holds everything), else the gate's own; capped says there is one.
func (g *Gate) capNow() (n int, capped bool) {
	if g.permitted {
		return min(g.permits, g.limit), true
	}
	return g.limit, g.limit > 0
}
