package httpfetch

import (
	"strings"
	"testing"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
)

func TestRedactor(t *testing.T) {
	r := newRedactor([][]byte{[]byte("Bearer abcd"), []byte("abcd"), []byte("cdef")})
	cases := []struct {
		text    string
		cut     int
		want    string
		changed bool
	}{
		{"nothing here", 12, "nothing here", false},
		{"nothing here", 4, "noth", false},
		{"x Bearer abcd y", 15, "x [credential] y", true}, // the longest wins
		{"abcdef", 6, "[credential]ef", true},             // one pass: no match inside a replaced one
		{"xxabcdyy", 3, "xx[credential]", true},           // straddling the cut: replaced whole
		{"xxabcdyy", 2, "xx", false},                      // starting at the cut: left out
		{"abcdabcd-cdef", 13, "[credential][credential]-[credential]", true},
	}
	for _, c := range cases {
		got, changed := r.redact([]byte(c.text), c.cut)
		if string(got) != c.want || changed != c.changed {
			t.Errorf("redact(%q, %d) = %q, %v; want %q, %v", c.text, c.cut, got, changed, c.want, c.changed)
		}
	}
	text := []byte("clean text")
	if allocs := testing.AllocsPerRun(10, func() { r.redact(text, len(text)) }); allocs != 0 {
		t.Errorf("%v allocations with nothing to redact", allocs)
	}
}

// BenchmarkRedact is the cost per byte of redacting a body fetched with a
// credential (a Bearer token of fetchtest.HardSecret: its patterns in
// every form), with no echo in it and with one.
func BenchmarkRedact(b *testing.B) {
	set, err := credentials.Parse([]byte(`{"k": {"hosts": ["a"], "headers": {"Authorization": "Bearer ${S}"}}}`),
		func(string) (string, bool) { return fetchtest.HardSecret, true })
	if err != nil {
		b.Fatal(err)
	}
	c, _ := set.Lookup("k")
	b.Logf("%d patterns, the longest %d bytes", len(c.Patterns()), c.MaxPatternLen())
	text := strings.Repeat(`{"id":12345,"name":"abcdefgh","tags":["Quux","Bz"]},`, 64<<10/50)
	for _, body := range []struct{ name, text string }{
		{"64KiB clean", text},
		{"64KiB one echo", text + fetchtest.EchoForm("json", fetchtest.HardSecret)},
	} {
		b.Run(body.name, func(b *testing.B) {
			data := []byte(body.text)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				newRedactor(c.Patterns()).redact(data, len(data))
			}
		})
	}
}
