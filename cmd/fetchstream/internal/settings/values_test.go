package settings

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// Sizes read back as the docs write them, so -h shows 256KiB.
func TestByteSizeString(t *testing.T) {
	for n, want := range map[int64]string{256 << 10: "256KiB", 64 << 20: "64MiB", 1 << 30: "1GiB", 1000: "1000", 0: "0", 1536: "1536"} {
		b := ByteSize(n)
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d) = %q, want %q", n, got, want)
		}
		var back ByteSize
		if err := back.Set(want); err != nil || back != b {
			t.Errorf("Set(%q) = %d, %v; want %d", want, back, err, n)
		}
	}
}

// Decimal units, bytes and blanks are taken; a negative or unitless
// word is refused with the form wanted.
func TestByteSizeSet(t *testing.T) {
	for in, want := range map[string]int64{"64KB": 64000, "2MB": 2000000, "10B": 10, " 3 KiB ": 3072} {
		var b ByteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"-1", "lots", "1TiB"} {
		var b ByteSize
		if err := b.Set(in); err == nil || !strings.Contains(err.Error(), "not a size like") {
			t.Errorf("Set(%q): %v, want an error", in, err)
		}
	}
}

// Ranges are masked, addresses become one-address ranges, and repeats add.
func TestPrefixList(t *testing.T) {
	var p PrefixList
	if err := p.Set("10.1.2.3/8, 192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Set("::1"); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(p, want) || p.String() != "10.0.0.0/8,192.0.2.1/32,::1/128" {
		t.Errorf("got %v (%s), want %v", p, p.String(), want)
	}
	if err := p.Set("10.0.0.0/33"); err == nil {
		t.Error("10.0.0.0/33 was taken")
	}
}

// Names are split at commas, trimmed, and empty ones dropped.
func TestNameList(t *testing.T) {
	var n NameList
	_ = n.Set("ETag, ,Last-Modified")
	_ = n.Set("Location")
	if !slices.Equal(n, NameList{"ETag", "Last-Modified", "Location"}) || n.String() != "ETag,Last-Modified,Location" {
		t.Errorf("got %q", n)
	}
}

// A header is 'Name: value'; the last value of a name wins.
func TestHeaderList(t *testing.T) {
	var h HeaderList
	for _, v := range []string{"X-Trace:  t-1 ", "Accept: a", "Accept: b"} {
		if err := h.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if h["X-Trace"] != "t-1" || h["Accept"] != "b" || h.String() != "Accept: b, X-Trace: t-1" {
		t.Errorf("got %v", h)
	}
	for _, bad := range []string{"no colon", ": value"} {
		if err := h.Set(bad); err == nil || !strings.Contains(err.Error(), "want 'Name: value'") {
			t.Errorf("Set(%q): %v", bad, err)
		}
	}
}
