package stages

import (
	"testing"

	"github.com/fetchstream/fetchstream/wire"
)

func BenchmarkEncode(b *testing.B) {
	cases := map[string]wire.Result{
		"json body": {BatchID: "RHWUHQY3LVSZD1T3WPBLH5", Index: 7, Count: 100, URL: "http://127.0.0.1:8080/get?x=1",
			Status: 200, ContentType: "application/json", ContentLength: 320, ElapsedMS: 1.5,
			Body: []byte(`{"args":{"x":"1"},"headers":{"Accept-Encoding":["gzip"],"Host":["127.0.0.1:8080"]},"url":"http://127.0.0.1:8080/get?x=1"}`)},
		"error": {BatchID: "RHWUHQY3LVSZD1T3WPBLH5", Index: 7, Count: 100, URL: "http://127.0.0.1:8080/x",
			Error: wire.ErrTimeout, Message: "no complete response within 10s", ElapsedMS: 10000},
	}
	enc := &Encoder{cfg: EncodeConfig{MaxBytes: 1 << 20}}
	for name, r := range cases {
		// released: as the publisher does after a core NATS publish.
		for _, released := range []bool{false, true} {
			if released {
				name += "/released"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					e := enc.Encode(&Fetched{Job: &Job{}, Result: r}).(*Encoded)
					if len(e.Data) == 0 {
						b.Fatal("nothing encoded")
					}
					if released {
						e.Release()
					}
				}
			})
		}
	}
}
