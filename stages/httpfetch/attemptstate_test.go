package httpfetch

import (
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
)

// A state goes back to the pool only when no hook can fire into it later:
// the attempt was answered and every connection came from the idle pool.
func TestAttemptStateQuiet(t *testing.T) {
	var pool attemptStates
	for _, tc := range []struct {
		name     string
		wasIdle  []bool // one GotConn per hop
		getConns int
		answered bool
		want     bool
	}{
		{"idle connection, answered", []bool{true}, 1, true, true},
		{"idle connections over a redirect", []bool{true, true}, 2, true, true},
		{"not answered", []bool{true}, 1, false, false},
		{"dialed", []bool{false}, 1, true, false},
		{"dialed on the second hop", []bool{true, false}, 2, true, false},
		{"a connection got twice for one asked (HTTP/2's retry)", []bool{true, true}, 1, true, false},
		{"asked for a connection, never got one", nil, 1, true, false},
		{"no request made", nil, 0, false, false},
	} {
		st := pool.get()
		for range tc.getConns {
			st.hooks.GetConn("example.com:80")
		}
		for _, idle := range tc.wasIdle {
			st.hooks.GotConn(httptrace.GotConnInfo{Reused: idle, WasIdle: idle})
		}
		if got := st.quiet(tc.answered); got != tc.want {
			t.Errorf("%s: quiet = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Reused states report each attempt's own connection: a result says
// reused exactly when no new connection was made for it, whatever the
// attempt before it saw.
func TestAttemptStateTimingPerAttempt(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.Header().Set("Connection", "close") // the next request dials
		}
		_, _ = w.Write([]byte("ok"))
	}))
	conns := fetchtest.CountConns(srv)
	srv.Start()
	defer srv.Close()
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	fresh := 0
	for range 30 {
		r, _ := fetch(f, srv.URL, 5*time.Second)
		if !r.OK() || r.Timing == nil {
			t.Fatalf("%q %+v", r.Error, r.Timing)
		}
		if r.Timing.Reused == (r.Timing.ConnectMS > 0) {
			t.Fatalf("timing %+v: reused must mean no connect time, and a new connection some", *r.Timing)
		}
		if !r.Timing.Reused {
			fresh++
		}
	}
	if got := int(conns.Load()); fresh != got {
		t.Errorf("%d results on a new connection, but the server saw %d connections", fresh, got)
	}
}
