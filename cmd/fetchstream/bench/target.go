package bench

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

// target is the HTTP target of the bench, served in its process until
// ctx is canceled: /d/{ms} answers 200 with a small JSON body after ms
// milliseconds (0 means at once).
type target struct {
	base string
}

func startTarget(ctx context.Context) (*target, error) {
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed: Close below
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return &target{base: "http://" + ln.Addr().String()}, nil
}

// url is the target URL that answers after delay.
func (t *target) url(delay time.Duration) string {
	return t.base + "/d/" + strconv.FormatInt(delay.Milliseconds(), 10)
}
