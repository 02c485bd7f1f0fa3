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

// "conditional" is a batch field like the others: false opts the batch
// out, absent or true leaves it conditional, a string or a slip of its
// name is refused, naming it.
func TestConditionalField(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    bool
		refused string
	}{
		{`{"urls":["http://a/"]}`, true, ""},
		{`{"urls":["http://a/"],"conditional":true}`, true, ""},
		{`{"urls":["http://a/"],"conditional":false}`, false, ""},
		{`{"urls":["http://a/"],"conditional":"no"}`, false, "conditional: want true or false, got a string"},
		{`{"urls":["http://a/"],"conditonal":false}`, false, `did you mean "conditional"?`},
	} {
		b, err := DecodeBatch([]byte(tc.in), "")
		switch {
		case tc.refused != "":
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%s: %v; want refused with %q", tc.in, err, tc.refused)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case b.ConditionalOn() != tc.want:
			t.Errorf("%s: conditional %v, want %v", tc.in, b.ConditionalOn(), tc.want)
		}
	}
	var none *RequestOptions
	if !none.ConditionalOn() {
		t.Error("nil options are not conditional")
	}
}

// Attack: "poll" scopes the validators, so a bounded name of one subject
// token's letters: a huge one, one with dots, spaces or control bytes,
// or a number, is refused, naming the field.
func TestPollField(t *testing.T) {
	for _, tc := range []struct {
		in, want, refused string
	}{
		{`{"urls":["http://a/"]}`, "", ""},
		{`{"urls":["http://a/"],"poll":"prices-1_b"}`, "prices-1_b", ""},
		{`{"urls":["http://a/"],"poll":"` + strings.Repeat("p", MaxPollLength+1) + `"}`, "", "poll"},
		{`{"urls":["http://a/"],"poll":"a.b"}`, "", "poll"},
		{`{"urls":["http://a/"],"poll":"a b\n"}`, "", "poll"},
		{`{"urls":["http://a/"],"poll":7}`, "", "poll"},
	} {
		b, err := DecodeBatch([]byte(tc.in), "")
		switch {
		case tc.refused != "":
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%s: %v; want refused naming %q", cut(tc.in, 60), err, tc.refused)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case b.Poll != tc.want:
			t.Errorf("%s: poll %q, want %q", tc.in, b.Poll, tc.want)
		}
	}
}

// A schedule's runs live as long as its interval, in whole seconds
// rounded up; a cron one's CronRunTTL.
func TestScheduleRunTTL(t *testing.T) {
	for spec, want := range map[string]string{
		"@every 1s": "1", "@every 1500ms": "2", "@every 1m0s": "60", "@hourly": "60", "0 */5 * * * *": "60",
	} {
		if got := ScheduleRunTTL(spec); got != want {
			t.Errorf("ScheduleRunTTL(%q) = %q, want %q", spec, got, want)
		}
	}
}
