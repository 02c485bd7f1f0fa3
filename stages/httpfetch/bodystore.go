package httpfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// DefaultMaxObject is the largest body a Fetcher sends to its BodyStore
// when Config.MaxObject is 0.
const DefaultMaxObject = 64 << 20

// BodyStore keeps bodies too large to travel inline in a result
// (connectors.ObjectStore keeps them in a JetStream Object Store bucket).
// It must be safe for concurrent use.
type BodyStore interface {
	// Put reads body to its end and stores it, streaming: it holds no
	// more than a chunk of it at a time. It returns where the body is,
	// with its size and SHA-256. If reading body fails, Put stores
	// nothing and returns that error (wrapped or not).
	Put(ctx context.Context, body io.Reader) (*wire.BodyObject, error)
}

// errOverMaxObject ends a body's trip to the store once it passes MaxObject.
var errOverMaxObject = errors.New("body over the object size cap")

// capReader reads r and fails with errOverMaxObject once more than limit
// bytes have come; err keeps the error of r itself, so that a failed
// Put can be told apart: the body failed, the cap was hit, or the store.
type capReader struct {
	r     io.Reader
	limit int64
	read  int64
	err   error
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read > c.limit {
		return n, errOverMaxObject
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// storeBody sends a body over the inline cap to the store: the head
// already read, then the rest straight from rest (the response's body,
// decoded), so a body of
// any size up to MaxObject costs the head plus the store's chunk in
// memory. It reports whether the result is complete; false means the
// body is over MaxObject (or declared so) and the caller cuts it inline
// as without a store. The response's declared length, when over
// MaxObject, saves reading it at all.
func (f *Fetcher) storeBody(ctx context.Context, res *wire.Result, resp *http.Response, rest io.Reader, head []byte, timeout time.Duration) bool {
	if resp.ContentLength > f.maxObject {
		return false
	}
	body := &capReader{r: io.MultiReader(bytes.NewReader(head), rest), limit: f.maxObject}
	obj, err := f.objects.Put(ctx, body)
	switch {
	case err == nil:
		res.BodyObject, res.BodyBytes, res.BodySHA256, res.ContentLength = obj, obj.Size, obj.SHA256, obj.Size
		return true
	case errors.Is(err, errOverMaxObject):
		return false
	case body.err != nil:
		f.fail(ctx, res, body.err, timeout)
	case ctx.Err() != nil:
		f.fail(ctx, res, ctx.Err(), timeout)
	default:
		res.Error, res.Message = wire.ErrUnexpected, fmt.Sprintf("storing the %d-byte body in the object store: %v", body.read, err)
	}
	return true
}
