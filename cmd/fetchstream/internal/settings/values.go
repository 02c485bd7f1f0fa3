package settings

// The flag.Value types of fetchstream's commands: sizes (256KiB), CIDR
// lists, name lists and curl's -H headers. Each Set adds to (lists) or
// replaces (sizes) the value, and says in its error the form it wants;
// String gives the value as a flag would take it.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ByteSize is a size such as 256KiB, 1MiB, 64KB or 65536 (bytes).
type ByteSize int64

// String gives the size as the docs write it: 256KiB, 64MiB, 1GiB when
// it is a whole number of them, else in bytes.
func (b *ByteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.factor == 0 {
			return fmt.Sprintf("%d%s", n/u.factor, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

// Set takes a whole number of bytes, optionally followed by KiB, MiB,
// GiB, KB, MB or B; not a negative one.
func (b *ByteSize) Set(value string) error {
	units := []struct {
		suffix string
		factor int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}}
	number, factor := strings.TrimSpace(value), int64(1)
	for _, u := range units {
		if trimmed, ok := strings.CutSuffix(number, u.suffix); ok {
			number, factor = strings.TrimSpace(trimmed), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size like 262144, 256KiB or 1MiB", value)
	}
	*b = ByteSize(n * factor)
	return nil
}

// PrefixList is a repeatable (or comma-separated) list of CIDR ranges;
// an address alone is the range of that address.
type PrefixList []netip.Prefix

func (p *PrefixList) String() string {
	parts := make([]string, len(*p))
	for i, prefix := range *p {
		parts[i] = prefix.String()
	}
	return strings.Join(parts, ",")
}

// Set adds the ranges of value, masked (10.1.2.3/8 is 10.0.0.0/8).
func (p *PrefixList) Set(value string) error {
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(part)
		if err != nil {
			addr, addrErr := netip.ParseAddr(part)
			if addrErr != nil {
				return fmt.Errorf("%q is not a CIDR range like 10.0.0.0/8 or an address", part)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		*p = append(*p, prefix.Masked())
	}
	return nil
}

// NameList is a repeatable (or comma-separated) list of names.
type NameList []string

func (n *NameList) String() string { return strings.Join(*n, ",") }

// Set adds the names of value, blanks trimmed, empty ones skipped.
func (n *NameList) Set(value string) error {
	for part := range strings.SplitSeq(value, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*n = append(*n, part)
		}
	}
	return nil
}

// HeaderList is curl's repeatable -H 'Name: value'; a name given twice
// keeps the last value. What names and values the service takes is
// checked elsewhere (wire.ValidateHeaders).
type HeaderList map[string]string

func (h *HeaderList) String() string {
	parts := make([]string, 0, len(*h))
	for name, value := range *h {
		parts = append(parts, name+": "+value)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Set adds one header, its name and value trimmed.
func (h *HeaderList) Set(value string) error {
	name, v, ok := strings.Cut(value, ":")
	if name = strings.TrimSpace(name); !ok || name == "" {
		return fmt.Errorf("%q is not a header: want 'Name: value'", value)
	}
	if *h == nil {
		*h = HeaderList{}
	}
	(*h)[name] = strings.TrimSpace(v)
	return nil
}
