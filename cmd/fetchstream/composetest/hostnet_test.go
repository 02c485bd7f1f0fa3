package composetest

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	stdbits "math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"
)

// freePorts returns n distinct loopback TCP ports that were free a
// moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// freeSubnet returns a /24 for the compose network that overlaps no
// Docker network, no route of the host and none of tried: one of
// 172.28.0.0/16 (the compose file's default range), else of 10.213.0.0/16.
func freeSubnet(tried []string) (string, error) {
	taken, err := takenPrefixes()
	if err != nil {
		return "", err
	}
	for _, s := range tried {
		taken = append(taken, netip.MustParsePrefix(s))
	}
	for _, base := range [][2]byte{{172, 28}, {10, 213}} {
		offset := rand.IntN(256)
		for i := range 256 {
			candidate := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte((offset + i) % 256), 0}), 24)
			if !overlapsAny(candidate, taken) {
				return candidate.String(), nil
			}
		}
	}
	return "", fmt.Errorf("no free /24 in 172.28.0.0/16 or 10.213.0.0/16 (taken: %v)", taken)
}

func overlapsAny(p netip.Prefix, taken []netip.Prefix) bool {
	for _, q := range taken {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// takenPrefixes are the subnets of Docker's networks and the host's
// IPv4 routes other than the default route.
func takenPrefixes() ([]netip.Prefix, error) {
	ids, err := recipe.Run(context.Background(), time.Minute, nil, "", "docker", "network", "ls", "-q")
	if err != nil {
		return nil, err
	}
	var taken []netip.Prefix
	if fields := strings.Fields(ids); len(fields) > 0 {
		out, err := recipe.Run(context.Background(), time.Minute, nil, "", "docker",
			append([]string{"network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, fields...)...)
		if err != nil {
			return nil, err
		}
		for _, s := range strings.Fields(out) {
			if p, err := netip.ParsePrefix(s); err == nil {
				taken = append(taken, p)
			}
		}
	}
	routes, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	return append(taken, routes...), nil
}

// hostRoutes reads the IPv4 routes of /proc/net/route (none where it
// does not exist), leaving out the default route.
func hostRoutes() ([]netip.Prefix, error) {
	f, err := os.Open("/proc/net/route")
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	var routes []netip.Prefix
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 8 || fields[0] == "Iface" {
			continue
		}
		dest, errDest := hex.DecodeString(fields[1])
		mask, errMask := hex.DecodeString(fields[7])
		if errDest != nil || errMask != nil || len(dest) != 4 || len(mask) != 4 {
			continue
		}
		// The kernel prints the network-order address as a host-order
		// (little-endian on amd64 and arm64) number: 192.168.17.0 is 0011A8C0.
		bits := stdbits.OnesCount32(binary.BigEndian.Uint32(mask))
		if bits == 0 {
			continue
		}
		var addr [4]byte
		binary.LittleEndian.PutUint32(addr[:], binary.BigEndian.Uint32(dest))
		routes = append(routes, netip.PrefixFrom(netip.AddrFrom4(addr), bits).Masked())
	}
	return routes, scanner.Err()
}
