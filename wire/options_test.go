package wire

import (
	"errors"
	"strings"
	"testing"
)

// per_host_rate is refused outside MinPerHostRate..MaxPerHostRate, with
// a message naming the field and the range; 0 and the bounds pass.
func TestPerHostRateBounds(t *testing.T) {
	for _, c := range []struct {
		rate string
		ok   bool
	}{
		{"0", true}, {"0.01", true}, {"1", true}, {"10000", true},
		{"1e-9", false}, {"1e-300", false}, {"0.0099", false}, {"10000.5", false},
		{"1e300", false}, {"-1", false}, {"-0.5", false},
	} {
		_, err := DecodeBatch([]byte(`{"urls":["http://a/1","http://a/2"],"per_host_rate":`+c.rate+`}`), "")
		switch {
		case c.ok && err != nil:
			t.Errorf("per_host_rate %s: %v, want it accepted", c.rate, err)
		case !c.ok && !errors.Is(err, ErrBadBatch):
			t.Errorf("per_host_rate %s: err %v, want ErrBadBatch", c.rate, err)
		case !c.ok && !strings.Contains(err.Error(), "per_host_rate must be from 0.01 to 10000"):
			t.Errorf("per_host_rate %s: %q, want the field and its range named", c.rate, err)
		}
	}
}
