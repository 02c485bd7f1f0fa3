package engine

// Validate reports the first field of c that NewFetch would refuse, as a
// *wire.ConfigError naming it (wrapping ErrConfig), or nil; it does no
// I/O, so that a caller can check a configuration before it connects to
// anything. NewFetch also refuses Robots with a fetcher that is not a
// RobotsFetcher, which Validate cannot see.
func (c FetchConfig) Validate() error { return c.validate() }
