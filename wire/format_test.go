package wire

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// BatchFormat names every field the decoder accepts, in a batch object
// and in a request object, and forms only for fields that exist: it is
// what service discovery shows callers (per_host_rate and robots were
// missing from a hand-written copy).
func TestBatchFormatNamesEveryField(t *testing.T) {
	format := BatchFormat()
	for _, f := range append(BatchFields(), RequestFields()...) {
		if !strings.Contains(format, strconv.Quote(f)) {
			t.Errorf("BatchFormat does not name %q: %s", f, format)
		}
	}
	for _, f := range []string{"per_host_rate", "robots", "retry_unsafe", "body_base64"} {
		if !strings.Contains(format, strconv.Quote(f)) {
			t.Errorf("BatchFormat does not name %q: %s", f, format)
		}
	}
	for f := range fieldForms() {
		if !slices.Contains(BatchFields(), f) && !slices.Contains(RequestFields(), f) {
			t.Errorf("fieldForms has %q, a field of neither object", f)
		}
	}
	if !strings.Contains(format, `{"urls": [URL | {"url", `) || !strings.Contains(format, `"retry_on": [408|425|429|500|502|503|504]`) {
		t.Errorf("BatchFormat = %s", format)
	}
}

// The lists are the decoder's: the "its fields are" of an unknown-field
// error names the same fields, in the same order.
func TestBatchFieldsAreTheDecodersList(t *testing.T) {
	_, err := DecodeBatch([]byte(`{"urls": ["http://a/"], "zzz": 1}`), "")
	if err == nil || !strings.HasSuffix(err.Error(), "its fields are "+strings.Join(BatchFields(), ", ")) {
		t.Errorf("error %v does not list BatchFields %v", err, BatchFields())
	}
	_, err = DecodeBatch([]byte(`{"urls": [{"url": "http://a/", "zzz": 1}]}`), "")
	if err == nil || !strings.HasSuffix(err.Error(), "its fields are "+strings.Join(RequestFields(), ", ")) {
		t.Errorf("error %v does not list RequestFields %v", err, RequestFields())
	}
	if !errors.Is(err, ErrBadBatch) {
		t.Errorf("err = %v, want ErrBadBatch", err)
	}
	fields := BatchFields()
	fields[0] = "changed"
	if BatchFields()[0] == "changed" {
		t.Error("BatchFields returns the decoder's own slice")
	}
}
