package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// bareHoldEnv, when set in the environment of `fetchstream bench`, makes
// it the memory scenario's bare-client child instead (the way os/exec's
// own tests run helper processes). Its value is "URL,IN_FLIGHT,WAVES".
const bareHoldEnv = "FETCHSTREAM_BENCH_BARE_CLIENT"

// bareClientPeakRSS runs a plain net/http client in a process of its
// own: inFlight goroutines, each GETting url waves times one after the
// other and reading the body, over one keep-alive pool of inFlight
// connections. It returns that process's peak RSS in bytes: what the
// same requests cost a client that does nothing else, as the floor the
// service's memory is compared with.
func bareClientPeakRSS(ctx context.Context, url string, inFlight, waves int) (int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, self, "bench")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", bareHoldEnv, url, inFlight, waves))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("bare client child: %w", err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}

// runBareClientChild is the child's side of bareClientPeakRSS: it reads
// spec ("URL,IN_FLIGHT,WAVES"), makes the requests, and prints its peak
// RSS in bytes on stdout.
func runBareClientChild(ctx context.Context, spec string, stdout io.Writer) error {
	// The numbers are the last two fields: a URL may hold commas.
	fields := strings.Split(spec, ",")
	if len(fields) < 3 {
		return fmt.Errorf("%s=%q: want URL,IN_FLIGHT,WAVES", bareHoldEnv, spec)
	}
	url := strings.Join(fields[:len(fields)-2], ",")
	inFlight, err1 := strconv.Atoi(fields[len(fields)-2])
	waves, err2 := strconv.Atoi(fields[len(fields)-1])
	if err1 != nil || err2 != nil || inFlight < 1 || waves < 1 {
		return fmt.Errorf("%s=%q: want URL,IN_FLIGHT,WAVES", bareHoldEnv, spec)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: inFlight, MaxIdleConnsPerHost: inFlight}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, inFlight)
	for range inFlight {
		wg.Go(func() {
			for range waves {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					errs <- err
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	peak, err := readPeakRSS(os.Getpid())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, peak)
	return err
}
