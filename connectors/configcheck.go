package connectors

import (
	"fmt"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// configError is a refused field of one of this package's configs.
func configError(field, format string, args ...any) error {
	return &wire.ConfigError{Err: ErrConfig, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// validStreamName says whether name may name a JetStream stream: not
// empty, no whitespace, dots, wildcards or path separators.
func validStreamName(name string) bool {
	return name != "" && !strings.ContainsAny(name, " \t\r\n.*>/\\")
}

// validBucketName says whether name may name an Object Store bucket:
// letters, digits, '-' and '_' only.
func validBucketName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return name != ""
}

// What a PublisherConfig's zero AckTimeout, MaxAckPending and
// FlushTimeout mean.
const (
	defaultPublishAckTimeout    = 10 * time.Second
	defaultPublishMaxAckPending = 256
	defaultFlushTimeout         = 5 * time.Second
)

// Validate reports the first field of c that NewPublisher would refuse,
// as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c PublisherConfig) Validate() error {
	switch {
	case c.Results == "":
		return configError("Results", "must not be empty")
	case c.Batches == "":
		return configError("Batches", "must not be empty")
	case c.AckTimeout < 0:
		return configError("AckTimeout", "must not be negative (0 means the default, %s), got %s", defaultPublishAckTimeout, c.AckTimeout)
	case c.MaxAckPending < 0:
		return configError("MaxAckPending", "must not be negative (0 means the default, %d), got %d", defaultPublishMaxAckPending, c.MaxAckPending)
	case c.FlushTimeout < 0:
		return configError("FlushTimeout", "must not be negative (0 means the default, %s), got %s", defaultFlushTimeout, c.FlushTimeout)
	case c.RetryFor < 0 || c.RetryFor > 0 && c.RetryFor < time.Second:
		return configError("RetryFor", "must be at least 1s (0 means the default, %s), got %s", DefaultOutputRetryFor, c.RetryFor)
	}
	return nil
}

// Validate reports the first field of c that NewCoreSource would refuse,
// as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c CoreSourceConfig) Validate() error {
	if c.Subject == "" {
		return configError("Subject", "must not be empty")
	}
	return validPending(c.PendingMsgs, c.PendingBytes)
}

// Validate reports the first field of c that RegisterMicro would refuse,
// as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c MicroConfig) Validate() error {
	switch {
	case c.Name == "":
		return configError("Name", "must not be empty")
	case c.Subject == "":
		return configError("Subject", "must not be empty")
	}
	return validPending(c.PendingMsgs, c.PendingBytes)
}

// validPending checks a subscription's pending limits (see
// pendingLimits): 0 is DefaultPendingBatches or DefaultPendingBytes; a
// negative limit, which nats.go reads as none, is refused, and so is a
// byte limit too small to hold a batch.
func validPending(msgs, bytes int) error {
	switch {
	case msgs < 0:
		return configError("PendingMsgs", "must not be negative (0 means the default, %d), got %d", DefaultPendingBatches, msgs)
	case bytes < 0 || bytes > 0 && bytes < 1024:
		return configError("PendingBytes", "must be at least 1KiB (0 means the default, %d), got %d", DefaultPendingBytes, bytes)
	}
	return nil
}
