// Package tracercache keeps, for one instrumentation scope, the tracer of
// the provider last asked, so that a span started per URL or per attempt
// from its parent's provider does not look its tracer up in the provider
// (a lock and a map, in the SDK) each time. Safe for concurrent use.
package tracercache

import (
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Cache holds the tracer of one scope for the last provider asked.
type Cache struct {
	name string
	last atomic.Pointer[entry]
}

type entry struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

// New returns a Cache of the tracers named name (the scope).
func New(name string) *Cache { return &Cache{name: name} }

// Tracer returns tp's tracer of the cache's scope: the one kept when tp is
// the provider last asked, or tp.Tracer, kept when tp can be compared (a
// provider of a type that cannot is asked every time).
func (c *Cache) Tracer(tp trace.TracerProvider) trace.Tracer {
	// e.tp is of a comparable type, so == cannot panic.
	if e := c.last.Load(); e != nil && e.tp == tp {
		return e.tracer
	}
	tracer := tp.Tracer(c.name)
	if t := reflect.TypeOf(tp); t != nil && t.Comparable() {
		c.last.Store(&entry{tp: tp, tracer: tracer})
	}
	return tracer
}
