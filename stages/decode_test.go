package stages

import (
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// Every rejected batch's summary names the batch as it was sent: its own
// id (cut to wire.MaxIDLength when that is what was wrong, and said so)
// and its correlation id; only a batch sent without an id gets one made up.
func TestRejectedSummaryNamesTheBatchAsSent(t *testing.T) {
	long := strings.Repeat("i", wire.MaxIDLength+44)
	cfg := DecodeConfig{MaxBatch: 2, DefaultTimeout: time.Second, MaxTimeout: time.Second}
	cases := []struct {
		name     string
		in       Inbound
		id, corr string
		cut      bool
		kind     wire.ErrorKind
		count    int
		message  string
	}{
		{name: "object id over the limit", in: Inbound{Data: []byte(`{"id": "` + long + `", "urls": ["http://a/"]}`)},
			id: long[:wire.MaxIDLength], cut: true, kind: wire.ErrInvalidBatch, count: 1, message: "first 256 bytes"},
		{name: "header id over the limit", in: Inbound{Data: []byte("http://a/"), HeaderID: long},
			id: long[:wire.MaxIDLength], cut: true, kind: wire.ErrInvalidBatch, count: 1, message: "batch id longer than 256 bytes"},
		{name: "correlation id over the limit", in: Inbound{Data: []byte(`{"id": "b1", "correlation_id": "` + long + `", "urls": ["http://a/"]}`)},
			id: "b1", corr: long[:wire.MaxIDLength], cut: true, kind: wire.ErrInvalidBatch, count: 1, message: "correlation id longer"},
		{name: "header id not UTF-8", in: Inbound{Data: []byte("http://a/"), HeaderID: "b\xff1"},
			id: "b\uFFFD1", kind: wire.ErrInvalidBatch, count: 1, message: "not UTF-8"},
		{name: "bad options keep the id", in: Inbound{Data: []byte(`{"id": "b2", "correlation_id": "c", "urls": ["http://a/"], "priority": 99}`)},
			id: "b2", corr: "c", kind: wire.ErrInvalidBatch, count: 1, message: "priority"},
		{name: "unknown field: no urls, counted as 0", in: Inbound{Data: []byte(`{"id": "b5", "url": ["http://a/"]}`)},
			id: "b5", kind: wire.ErrInvalidBatch, message: `unknown field "url"`},
		{name: "unknown field: id and urls known", in: Inbound{Data: []byte(`{"id": "b6", "urls": ["http://a/", "http://b/"], "robot": true}`)},
			id: "b6", kind: wire.ErrInvalidBatch, count: 2, message: `unknown field "robot" (did you mean "robots"?)`},
		{name: "too many URLs keep both ids", in: Inbound{Data: []byte(`{"id": "b3", "correlation_id": "c", "urls": ["http://a/", "http://b/", "http://c/"]}`)},
			id: "b3", corr: "c", kind: wire.ErrBatchTooLarge, count: 3, message: "over the maximum of 2"},
		{name: "a source's reject wins, named and counted", in: Inbound{Data: []byte(`{"id": "b4", "correlation_id": "c", "urls": ["http://a/", "http://b/"]}`),
			Reject: &BatchError{Kind: wire.ErrMaxDeliver, Message: "delivered 5 times"}},
			id: "b4", corr: "c", kind: wire.ErrMaxDeliver, count: 2, message: "delivered 5 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := cfg.decode(&c.in)
			if job.Err == nil {
				t.Fatalf("job %+v not rejected", job)
			}
			s := Rejected(job).Summary
			if s.BatchID != c.id || s.CorrelationID != c.corr || s.IDTruncated != c.cut || s.Error != c.kind ||
				s.Count != c.count || !strings.Contains(s.Message, c.message) || strings.Contains(s.Message, "invalid batch") {
				t.Errorf("summary %.80q %q cut=%v %s count %d %q;\nwant %.80q %q cut=%v %s count %d mentioning %q",
					s.BatchID, s.CorrelationID, s.IDTruncated, s.Error, s.Count, s.Message, c.id, c.corr, c.cut, c.kind, c.count, c.message)
			}
		})
	}
	if job := cfg.decode(&Inbound{Data: []byte("")}); job.ID == "" || job.Err == nil {
		t.Errorf("a batch sent without an id is named by the service: %+v", job)
	}
}

// A batch whose own per_host_rate could not fetch its URLs to one host
// within the lifetime is refused at once, saying why; one that could, or
// that sets no rate, is not. Hosts count as the scheduler counts them. (A
// rate below the legal range, 1e-9 say, is refused before: see
// wire.TestPerHostRateBounds.)
func TestDecodeRefusesABatchItsPaceCannotFinish(t *testing.T) {
	cfg := DecodeConfig{MaxBatch: 100, DefaultTimeout: time.Second, MaxTimeout: time.Second, MaxBatchTime: 15 * time.Minute}
	short := cfg
	short.MaxBatchTime = time.Minute
	domains := short
	domains.PerHostKey = polite.HostKeyDomain
	cases := []struct {
		name    string
		cfg     DecodeConfig
		data    string
		message string // "": not refused
	}{
		{"the slowest legal rate, a short lifetime", short, `{"per_host_rate": 0.01, "urls": ["http://h.example/a", "http://h.example/b"]}`,
			"2 URLs to host h.example:80 at per_host_rate 0.01 need at least 1m41s (the last starts after 1m40s, then has 1s), over --max-batch-time 1m0s"},
		{"the busiest host named", cfg, `{"per_host_rate": 0.01, "urls": ["http://a.example/", "http://b.example/1",
			"http://b.example/2", "http://b.example/3", "http://b.example/4", "http://b.example/5", "http://b.example/6",
			"http://b.example/7", "http://b.example/8", "http://b.example/9", "http://b.example/10", "http://b.example/11"]}`,
			"11 URLs to host b.example:80 at per_host_rate 0.01 need at least 16m41s (the last starts after 16m40s, then has 1s), over --max-batch-time 15m0s"},
		{"the last URL starts as the lifetime ends", cfg, `{"per_host_rate": 0.01, "urls": ["http://b.example/1", "http://b.example/2",
			"http://b.example/3", "http://b.example/4", "http://b.example/5", "http://b.example/6", "http://b.example/7",
			"http://b.example/8", "http://b.example/9", "http://b.example/10"]}`,
			"10 URLs to host b.example:80 at per_host_rate 0.01 need at least 15m1s (the last starts after 15m0s, then has 1s)"},
		{"just within", cfg, `{"per_host_rate": 0.01, "timeout_ms": 1000, "urls": ["http://b.example/1", "http://b.example/2",
			"http://b.example/3", "http://b.example/4", "http://b.example/5", "http://b.example/6", "http://b.example/7",
			"http://b.example/8", "http://b.example/9"]}`, ""},
		{"one URL per host", cfg, `{"per_host_rate": 0.01, "urls": ["http://a.example/", "http://b.example/"]}`, ""},
		{"no rate of its own", cfg, `{"urls": ["http://a.example/", "http://a.example/"]}`, ""},
		{"no lifetime", DecodeConfig{MaxBatch: 100, DefaultTimeout: time.Second, MaxTimeout: time.Second},
			`{"per_host_rate": 0.01, "urls": ["http://a.example/", "http://a.example/"]}`, ""},
		{"hosts of one domain", domains, `{"per_host_rate": 0.01, "urls": ["http://a.example.com/", "http://b.example.com:8080/"]}`,
			"2 URLs to host example.com at per_host_rate 0.01 need at least 1m41s (the last starts after 1m40s, then has 1s), over --max-batch-time 1m0s"},
		{"hosts apart", cfg, `{"per_host_rate": 0.01, "urls": ["http://a.example.com/", "http://b.example.com:8080/"]}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := c.cfg.decode(&Inbound{Data: []byte(c.data)})
			switch {
			case c.message == "" && job.Err != nil:
				t.Errorf("refused: %v", job.Err)
			case c.message != "" && (job.Err == nil || job.Err.Kind != wire.ErrInvalidBatch || !strings.Contains(job.Err.Message, c.message)):
				t.Errorf("got %v; want invalid_batch saying %q", job.Err, c.message)
			case c.message != "" && (len(job.Requests) != 0 || job.Err.Count == 0):
				t.Errorf("refused batch has %d requests to fetch, count %d", len(job.Requests), job.Err.Count)
			}
		})
	}
}

// The subject a batch arrived on, which scopes credentials, is the
// source's word, never the publisher's: a batch that names one in any
// spelling is refused (an unknown field), and a batch that does not
// carries the subject it came on.
func TestDecodeSubjectIsNotThePublishers(t *testing.T) {
	cfg := DecodeConfig{MaxBatch: 10, DefaultTimeout: time.Second, MaxTimeout: time.Second}
	data := `{"Subject": "fetch.urls.billing", "subject": "fetch.urls.billing", "-": "fetch.urls.billing", "urls": ["http://a.example/"]}`
	job := cfg.decode(&Inbound{Data: []byte(data), Subject: "fetch.urls.other"})
	if job.Err == nil || job.Options != nil || !strings.Contains(job.Err.Message, `unknown fields "Subject", "subject", "-"`) {
		t.Fatalf("err %v, options %+v: want the batch refused for its unknown fields", job.Err, job.Options)
	}
	job = cfg.decode(&Inbound{Data: []byte(`{"urls": ["http://a.example/"]}`), Subject: "fetch.urls.other"})
	if job.Err != nil || job.Options == nil || job.Options.Subject != "fetch.urls.other" {
		t.Fatalf("err %v, options %+v: want the subject it arrived on, fetch.urls.other", job.Err, job.Options)
	}
}
