package stages

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// A batch whose default headers, copied into each of its URLs, come to
// more than MaxExpansion bytes is rejected before any work, naming the
// setting; one at the limit is a job.
func TestDecodeBoundsExpansion(t *testing.T) {
	cfg := DecodeConfig{MaxBatch: 1000, DefaultTimeout: time.Second, MaxTimeout: time.Second,
		MaxExpansion: 1000 * 100, ExpansionSetting: "--max-batch-expansion"}
	batch := func(valueLen int) []byte {
		b := wire.Batch{ID: "wide", RequestOptions: wire.RequestOptions{Headers: map[string]string{"X": strings.Repeat("v", valueLen)}}}
		for i := range 1000 {
			b.URLs = append(b.URLs, wire.Request{URL: fmt.Sprintf("http://a/%d", i)})
		}
		data, _ := json.Marshal(b)
		return data
	}
	if job := cfg.decode(&Inbound{Data: batch(99)}); job.Err != nil {
		t.Errorf("100 bytes of headers over 1,000 URLs at a limit of 100,000: %+v", job.Err)
	}
	job := cfg.decode(&Inbound{Data: batch(100)})
	if job.Err == nil || job.Err.Kind != wire.ErrInvalidBatch || job.Err.Count != 1000 || job.ID != "wide" ||
		!strings.Contains(job.Err.Message, "--max-batch-expansion") || !strings.Contains(job.Err.Message, "101000 bytes") {
		t.Errorf("101 bytes of headers over 1,000 URLs: job %q err %+v, want invalid_batch naming the size and --max-batch-expansion", job.ID, job.Err)
	}
	if _, err := NewDecode(DecodeConfig{MaxBatch: 1, DefaultTimeout: time.Second, MaxTimeout: time.Second, MaxExpansion: -1}); err == nil {
		t.Error("a negative MaxExpansion is accepted")
	}
}
