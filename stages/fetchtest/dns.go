package fetchtest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// NewResolver serves the given names (lower case, no trailing dot) on a
// loopback UDP DNS server and returns a net.Resolver that asks only it.
// A name maps to its A and AAAA records; other names are NXDOMAIN. The
// server stops when t ends. It answers what Go's resolver asks (one
// question, types A and AAAA) and nothing more.
func NewResolver(t testing.TB, records map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply := answer(buf[:n], records); reply != nil {
				_, _ = pc.WriteTo(reply, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

const (
	typeA    = 1
	typeAAAA = 28
)

// answer builds the reply to one DNS query, or nil if it is not one.
func answer(query []byte, records map[string][]netip.Addr) []byte {
	if len(query) < 12 || binary.BigEndian.Uint16(query[4:6]) != 1 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(query) && query[i] != 0 {
		n := int(query[i])
		if n > 63 || i+1+n > len(query) {
			return nil
		}
		labels = append(labels, string(query[i+1:i+1+n]))
		i += 1 + n
	}
	i++ // the root label
	if i+4 > len(query) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(query[i : i+2])
	question := query[12 : i+4]
	name := strings.ToLower(strings.Join(labels, "."))
	addrs, known := records[name]

	reply := append([]byte(nil), query[0:2]...) // id
	rcode := uint16(0)
	if !known {
		rcode = 3 // NXDOMAIN
	}
	var answers [][]byte
	for _, a := range addrs {
		var rtype uint16
		var data []byte
		switch {
		case a.Is4() && qtype == typeA:
			rtype, data = typeA, a.AsSlice()
		case !a.Is4() && qtype == typeAAAA:
			rtype, data = typeAAAA, a.AsSlice()
		default:
			continue
		}
		rr := []byte{0xc0, 12} // the question's name
		rr = binary.BigEndian.AppendUint16(rr, rtype)
		rr = binary.BigEndian.AppendUint16(rr, 1) // IN
		rr = binary.BigEndian.AppendUint32(rr, 60)
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(data)))
		answers = append(answers, append(rr, data...))
	}
	reply = binary.BigEndian.AppendUint16(reply, 0x8180|rcode) // response, RD, RA
	reply = binary.BigEndian.AppendUint16(reply, 1)
	reply = binary.BigEndian.AppendUint16(reply, uint16(len(answers)))
	reply = binary.BigEndian.AppendUint16(reply, 0)
	reply = binary.BigEndian.AppendUint16(reply, 0)
	reply = append(reply, question...)
	for _, rr := range answers {
		reply = append(reply, rr...)
	}
	return reply
}
