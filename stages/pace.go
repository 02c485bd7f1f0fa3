package stages

import (
	"fmt"
	"strconv"
	"time"

	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// paceProblem says why a batch whose own per_host_rate is rate could not
// finish within lifetime, or is "" when it could. Its URLs to one host
// key (as the scheduler counts hosts, in mode) go at most rate a second,
// the first at once: the last of n starts (n-1)/rate after the first, and
// must then have its timeout to finish in. It parses each URL once, in
// the decode stage, and only for a batch that sets a rate.
func paceProblem(reqs []wire.Request, rate float64, timeout, lifetime time.Duration, mode polite.HostKeyMode) string {
	perHost := map[string]int{}
	worst, most := "", 0
	for i := range reqs {
		key := polite.KeyOf(reqs[i].URL, mode)
		if key == "" {
			continue // fails without a request: nothing to pace
		}
		perHost[key]++
		if n := perHost[key]; n > most {
			worst, most = key, n
		}
	}
	last := float64(most-1) / rate
	if most < 2 || last+timeout.Seconds() <= lifetime.Seconds() {
		return ""
	}
	return fmt.Sprintf("%d URLs to host %s at per_host_rate %s need at least %s (the last starts after %s, then has %s), over %s %s: "+
		"send fewer URLs per host, or a higher per_host_rate",
		most, worst, strconv.FormatFloat(rate, 'g', -1, 64), seconds(last+timeout.Seconds()), seconds(last), timeout, LifetimeFlag, lifetime)
}

// seconds words a time in seconds that may be far beyond a time.Duration.
func seconds(s float64) string {
	const hour = 3600
	if s < 1e6*hour {
		return time.Duration(s * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%.3g hours", s/hour)
}
