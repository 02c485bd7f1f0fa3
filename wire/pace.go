package wire

// The range of a batch's per_host_rate, in requests per second; 0 (or
// absent) is no pace of the batch's own. The floor, one request per 100
// seconds, is slower than any crawl that expects its results, and keeps
// a two-URL batch on one host within minutes instead of years
// (1e-9 never finished); the ceiling, one request per 100 µs, is already
// no pace at all in practice, and keeps 1/rate a duration that cannot
// overflow (1e-300 turned pacing off).
const (
	MinPerHostRate = 0.01
	MaxPerHostRate = 10000.0
)
