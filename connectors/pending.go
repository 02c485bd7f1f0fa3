package connectors

import "github.com/nats-io/nats.go"

// pendingLimits is what a subscription's pending limits become for a
// configuration's msgs and bytes: set reports whether either is set (if
// not, the subscription keeps nats.go's defaults); one left at 0 takes
// nats.go's default for it.
func pendingLimits(msgs, bytes int) (limitMsgs, limitBytes int, set bool) {
	if msgs == 0 && bytes == 0 {
		return 0, 0, false
	}
	if msgs == 0 {
		msgs = nats.DefaultSubPendingMsgsLimit
	}
	if bytes == 0 {
		bytes = nats.DefaultSubPendingBytesLimit
	}
	return msgs, bytes, true
}
