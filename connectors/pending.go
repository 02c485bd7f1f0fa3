package connectors

import "cmp"

// The pending limits a CoreSource's subscription and a micro endpoint keep
// for a config that leaves PendingMsgs or PendingBytes at 0 (the
// service's --pending-batches and --pending-bytes default to them too):
// 1,024 batches and 64 MiB beyond those in progress.
const (
	DefaultPendingBatches = 1024
	DefaultPendingBytes   = 64 << 20
)

// pendingLimits is what a subscription's pending limits become for a
// configuration's msgs and bytes: one left at 0 takes its default
// (DefaultPendingBatches, DefaultPendingBytes).
func pendingLimits(msgs, bytes int) (limitMsgs, limitBytes int) {
	return cmp.Or(msgs, DefaultPendingBatches), cmp.Or(bytes, DefaultPendingBytes)
}
