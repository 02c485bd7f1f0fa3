package wire

import "fmt"

// ConfigError is a configuration that a constructor refuses, one field at
// a time: Field names the field of the package's Config as Go spells it
// ("PerHostBurst", or "Policy.AllowNets" inside a nested struct), Problem
// says what is wrong with it ("must not be negative, got -1") and may name
// other fields of the same Config the same way, and Err is the package's
// sentinel (stages.ErrConfig, httpfetch.ErrConfig, ...), which errors.Is
// finds. The packages of this module that validate a Config return one;
// the service reads Field and Problem to name its own fields (and the CLI
// its flags) instead.
type ConfigError struct {
	Err     error
	Field   string
	Problem string
}

// NewConfigError returns a *ConfigError wrapping sentinel, its Problem
// formatted as fmt.Sprintf does.
func NewConfigError(sentinel error, field, format string, args ...any) *ConfigError {
	return &ConfigError{Err: sentinel, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Error reads "<sentinel>: <Field> <Problem>".
func (e *ConfigError) Error() string { return e.Err.Error() + ": " + e.Field + " " + e.Problem }

// Unwrap returns Err, the package's sentinel.
func (e *ConfigError) Unwrap() error { return e.Err }
