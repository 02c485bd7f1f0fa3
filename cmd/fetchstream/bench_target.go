package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

// benchTarget is the HTTP target of `fetchstream bench`: /d/{ms} answers
// 200 with a small JSON body after ms milliseconds (0: at once).
type benchTarget struct {
	base string
}

func startBenchTarget(ctx context.Context) (*benchTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	body := []byte(`{"ok":true,"service":"fetchstream-bench","items":[1,2,3]}`)
	mux.HandleFunc("GET /d/{ms}", func(w http.ResponseWriter, r *http.Request) {
		if ms, _ := strconv.Atoi(r.PathValue("ms")); ms > 0 {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	go func() { _ = serveUntilDone(ctx, ln, mux) }()
	return &benchTarget{base: "http://" + ln.Addr().String()}, nil
}

func (t *benchTarget) url(delay time.Duration) string {
	return t.base + "/d/" + strconv.FormatInt(delay.Milliseconds(), 10)
}
