package connectors

import (
	"fmt"
	"strings"

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
