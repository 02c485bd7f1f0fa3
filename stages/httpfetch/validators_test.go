package httpfetch

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// memValidators is a ValidatorStore in memory, storing at once, so that
// the fetcher's side is tested alone (connectors' tests hold the bucket).
type memValidators struct {
	mu   sync.Mutex
	kept map[string]Validators
	// hang makes Lookup wait for its context's end, as a lost bucket does.
	hang bool
}

func (m *memValidators) Lookup(ctx context.Context, key string) (Validators, bool, error) {
	if m.hang {
		<-ctx.Done()
		return Validators{}, false, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.kept[key]
	return v, ok, nil
}

func (m *memValidators) Store(key string, v Validators) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kept == nil {
		m.kept = map[string]Validators{}
	}
	m.kept[key] = v
}

func (m *memValidators) all() []Validators {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Validators
	for _, v := range m.kept {
		out = append(out, v)
	}
	return out
}

func changedOf(r wire.Result) string {
	if r.Changed == nil {
		return "absent"
	}
	if *r.Changed {
		return "true"
	}
	return "false"
}

// The first "done when", at the fetcher: four URLs polled twice.
// The first poll says changed for all; the second sends the validators
// kept, gets 304s for the ETag and Last-Modified pages (not_modified, not
// an error), the same hash for the static page, and a new one for the
// changing page.
func TestValidatorsPollTwice(t *testing.T) {
	p := fetchtest.NewPolled(t)
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store})
	paths := []string{"/etag", "/last-modified", "/static", "/changing"}
	for _, path := range paths {
		r, _ := fetch(f, p.URL(path), 5*time.Second)
		if r.Error != "" || r.Status != 200 || changedOf(r) != "true" || r.NotModified {
			t.Fatalf("first poll of %s: %+v, changed %s; want 200 and changed true", path, r, changedOf(r))
		}
	}
	want := map[string]struct {
		changed     string
		notModified bool
		status      int
	}{
		"/etag": {"false", true, 304}, "/last-modified": {"false", true, 304},
		"/static": {"false", false, 200}, "/changing": {"true", false, 200},
	}
	for _, path := range paths {
		r, _ := fetch(f, p.URL(path), 5*time.Second)
		w := want[path]
		if r.Error != "" || r.Status != w.status || changedOf(r) != w.changed || r.NotModified != w.notModified {
			t.Errorf("second poll of %s: status %d error %q changed %s not_modified %v; want status %d changed %s not_modified %v",
				path, r.Status, r.Error, changedOf(r), r.NotModified, w.status, w.changed, w.notModified)
		}
	}
	if got := p.Requests("/etag"); len(got) != 2 || got[0].IfNoneMatch != "" || got[1].IfNoneMatch != `"v1"` {
		t.Errorf("/etag requests: %+v; want the second with If-None-Match \"v1\"", got)
	}
	if got := p.Requests("/last-modified"); len(got) != 2 || got[1].IfModifiedSince == "" {
		t.Errorf("/last-modified requests: %+v; want the second with If-Modified-Since", got)
	}
	if s := f.ValidatorStats(); s.NotModified != 2 || s.Changed != 5 || s.Unchanged != 3 {
		t.Errorf("stats %+v; want 2 not modified, 5 changed, 3 unchanged", s)
	}
	// A third poll of the 304 pages is still conditional: a 304 keeps
	// what was kept.
	if r, _ := fetch(f, p.URL("/etag"), 5*time.Second); !r.NotModified || changedOf(r) != "false" {
		t.Errorf("third poll of /etag: %+v; want not_modified again", r)
	}
}

// A request that sets its own conditional header keeps today's
// behaviour: its header goes as given, nothing is added, nothing kept, no
// changed; a 304 is a plain status. A HEAD or POST is never conditional.
func TestValidatorsLeaveOwnConditionalsAlone(t *testing.T) {
	p := fetchtest.NewPolled(t)
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store})
	fetch(f, p.URL("/etag"), 5*time.Second) // kept: "v1"
	own := wire.Request{URL: p.URL("/etag"), Headers: map[string]string{"if-none-match": `"other"`}}
	r := f.Do(context.Background(), own, nil, 5*time.Second)
	if r.Status != 200 || r.Changed != nil || r.NotModified {
		t.Errorf("own If-None-Match: %+v; want 200 without changed", r)
	}
	own.Headers = map[string]string{"If-None-Match": `"v1"`}
	r = f.Do(context.Background(), own, nil, 5*time.Second)
	if r.Status != 304 || r.Error != "" || r.Changed != nil || r.NotModified {
		t.Errorf("own If-None-Match matching: %+v; want a plain 304", r)
	}
	reqs := p.Requests("/etag")
	if got := reqs[len(reqs)-2].IfNoneMatch; got != `"other"` {
		t.Errorf("own If-None-Match sent as %q; want it as given", got)
	}
	head := f.Do(context.Background(), wire.Request{URL: p.URL("/etag"), Method: "HEAD"}, nil, 5*time.Second)
	if head.Changed != nil || p.Requests("/etag")[len(p.Requests("/etag"))-1].IfNoneMatch != "" {
		t.Errorf("HEAD: %+v; want no conditional header, no changed", head)
	}
	if n := len(store.all()); n != 1 {
		t.Errorf("%d validators kept; want only the first GET's", n)
	}
}

// "conditional": false sends no conditional header: the page comes in
// full, and changed still says whether its body differs.
func TestValidatorsOptOut(t *testing.T) {
	p := fetchtest.NewPolled(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: &memValidators{}})
	off := false
	opts := &wire.RequestOptions{Conditional: &off}
	for i, want := range []string{"true", "false"} {
		r := f.Do(context.Background(), wire.Request{URL: p.URL("/etag")}, opts, 5*time.Second)
		if r.Status != 200 || r.NotModified || changedOf(r) != want || r.Body == nil {
			t.Errorf("poll %d: %+v changed %s; want 200 with the body, changed %s", i+1, r, changedOf(r), want)
		}
	}
	for _, req := range p.Requests("/etag") {
		if req.IfNoneMatch != "" || req.IfModifiedSince != "" {
			t.Errorf("a conditional header was sent despite conditional false: %+v", req)
		}
	}
}

// Attack: a hostile server sends an ETag far over the cap, and a hostile
// writer of the bucket puts CR LF and a header of its own in one. The
// long one is not kept; the injected one is never sent (the request goes
// out unconditional and fetches), and no request carries the injected
// header.
func TestValidatorsHostileValues(t *testing.T) {
	p := fetchtest.NewPolled(t)
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store})
	long := strings.Repeat("x", MaxValidatorLen+1)
	r, _ := fetch(f, p.URL("/etag-header/"+long), 5*time.Second)
	if r.Error != "" || changedOf(r) != "true" {
		t.Fatalf("long etag: %+v", r)
	}
	for _, v := range store.all() {
		if v.ETag != "" || v.SHA256 == "" {
			t.Errorf("kept %+v; want the hash without the %d-byte etag", v, len(long))
		}
	}
	r, _ = fetch(f, p.URL("/static"), 5*time.Second)
	if r.Error != "" {
		t.Fatalf("static: %+v", r)
	}
	store.mu.Lock()
	for key := range store.kept {
		store.kept[key] = Validators{ETag: "\"a\"\r\nX-Injected: 1", LastModified: "x\nY: 2", SHA256: "00"}
	}
	store.mu.Unlock()
	r, _ = fetch(f, p.URL("/static"), 5*time.Second)
	if r.Error != "" || r.Status != 200 || changedOf(r) != "true" {
		t.Errorf("static with injected validators kept: %+v, changed %s; want a full 200, changed", r, changedOf(r))
	}
	for _, req := range p.Requests("/") {
		if req.Header.Get("X-Injected") != "" || req.Header.Get("Y") != "" || req.IfNoneMatch != "" {
			t.Errorf("a request carried what the store injected: %v", req.Header)
		}
	}
}

// Attack: a server echoes the credential in its ETag. The value is not
// kept in the bucket (at rest, outside the credentials file), and the
// key names the credential, never its value.
func TestValidatorsKeepNoCredential(t *testing.T) {
	p := fetchtest.NewPolled(t)
	host := strings.TrimPrefix(p.URL(""), "http://")
	set, err := credentials.Parse([]byte(`{"k": {"hosts": ["`+host+`"], "headers": {"X-Key": "${S}"}}}`),
		func(string) (string, bool) { return "s3cr3t-value", true })
	if err != nil {
		t.Fatal(err)
	}
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store, Credentials: set})
	r := f.Do(context.Background(), wire.Request{URL: p.URL("/etag-header/s3cr3t-value"), Credential: "k"}, nil, 5*time.Second)
	if r.Error != "" || changedOf(r) != "true" {
		t.Fatalf("%+v", r)
	}
	for _, v := range store.all() {
		if strings.Contains(v.ETag, "s3cr3t") {
			t.Errorf("kept the credential's value: %+v", v)
		}
	}
	u, _ := url.Parse(p.URL("/etag-header/s3cr3t-value"))
	header := http.Header{"X-Key": {"s3cr3t-value"}}
	if ValidatorKey("", "GET", u, header, credOf(t, set, "k")) == ValidatorKey("", "GET", u, nil, nil) {
		t.Error("the key does not tell a credential's request from a plain one")
	}
	rotated, err := credentials.Parse([]byte(`{"k": {"hosts": ["`+host+`"], "headers": {"X-Key": "${S}"}}}`),
		func(string) (string, bool) { return "another-value", true })
	if err != nil {
		t.Fatal(err)
	}
	if ValidatorKey("", "GET", u, header, credOf(t, set, "k")) != ValidatorKey("", "GET", u, http.Header{"X-Key": {"another-value"}}, credOf(t, rotated, "k")) {
		t.Error("the key depends on the credential's value")
	}
	withUser, _ := url.Parse(strings.Replace(p.URL("/static"), "http://", "http://user:pw@", 1))
	plain, _ := url.Parse(p.URL("/static"))
	if ValidatorKey("", "GET", withUser, nil, nil) != ValidatorKey("", "GET", plain, nil, nil) {
		t.Error("the key depends on the URL's userinfo")
	}
}

// A bucket that does not answer holds no fetch past the lookup bound:
// the request goes out unconditional, its result says changed, and the
// failure is counted.
func TestValidatorsLookupTimeout(t *testing.T) {
	p := fetchtest.NewPolled(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: &memValidators{hang: true}, ValidatorTimeout: 50 * time.Millisecond})
	r, took := fetch(f, p.URL("/etag"), 5*time.Second)
	if r.Error != "" || r.Status != 200 || changedOf(r) != "true" {
		t.Errorf("%+v changed %s; want 200 and changed", r, changedOf(r))
	}
	if took > 4*time.Second {
		t.Errorf("the fetch took %s behind a lookup bounded at 50ms", took)
	}
	if s := f.ValidatorStats(); s.LookupFailures != 1 {
		t.Errorf("stats %+v; want 1 lookup failure", s)
	}
	if _, err := New(Config{Concurrency: 1, MaxBody: 1, ValidatorTimeout: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("negative ValidatorTimeout: %v", err)
	}
}

func credOf(t *testing.T, set *credentials.Set, name string) *credentials.Credential {
	t.Helper()
	c, ok := set.Lookup(name)
	if !ok {
		t.Fatalf("no credential %q", name)
	}
	return c
}

// Attack: a hostile publisher GETs a page with Range: bytes=0-0, so that
// a 206 of one byte, with the page's ETag, would be kept for the page; a
// victim's plain GET would then go out with that If-None-Match and come
// back 304, without its body. Neither a 206's validators are kept nor is
// a ranged request keyed as a plain one: the victim gets the whole page.
func TestValidatorsRangeCannotBlankAnotherRequest(t *testing.T) {
	p := fetchtest.NewPolled(t)
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store})
	hostile := f.Do(context.Background(), wire.Request{URL: p.URL("/ranged"), Headers: map[string]string{"Range": "bytes=0-0"}}, nil, 5*time.Second)
	if hostile.Status != http.StatusPartialContent || hostile.Changed != nil {
		t.Fatalf("the ranged GET: %+v changed %s; want a 206 that says nothing of change", hostile, changedOf(hostile))
	}
	if n := len(store.all()); n != 0 {
		t.Errorf("%d validators kept from a 206; want none", n)
	}
	victim, _ := fetch(f, p.URL("/ranged"), 5*time.Second)
	if victim.Status != 200 || victim.NotModified || victim.Body == nil || changedOf(victim) != "true" {
		t.Errorf("the victim's plain GET: %+v changed %s; want a 200 with the whole body, changed", victim, changedOf(victim))
	}
	if reqs := p.Requests("/ranged"); len(reqs) != 2 || reqs[1].IfNoneMatch != "" {
		t.Errorf("requests %+v; want the victim's unconditional", reqs)
	}
}

// Requests that differ in a header that may select a representation
// (Accept, a custom one), or in their batch's poll scope, are keyed
// apart; the host's case and the scheme's default port are not.
func TestValidatorKeySeparatesRepresentations(t *testing.T) {
	u, _ := url.Parse("http://Example.COM:80/p?q=1")
	same, _ := url.Parse("http://example.com/p?q=1")
	other, _ := url.Parse("http://example.com:8080/p?q=1")
	plain := ValidatorKey("", "GET", u, nil, nil)
	for _, tc := range []struct {
		name  string
		key   string
		equal bool
	}{
		{"host case and default port", ValidatorKey("", "GET", same, nil, nil), true},
		{"another port", ValidatorKey("", "GET", other, nil, nil), false},
		{"Accept", ValidatorKey("", "GET", u, http.Header{"Accept": {"application/json"}}, nil), false},
		{"Accept-Language", ValidatorKey("", "GET", u, http.Header{"Accept-Language": {"fr"}}, nil), false},
		{"a custom header", ValidatorKey("", "GET", u, http.Header{"X-Variant": {"b"}}, nil), false},
		{"Range", ValidatorKey("", "GET", u, http.Header{"Range": {"bytes=0-0"}}, nil), false},
		{"a conditional header", ValidatorKey("", "GET", u, http.Header{"If-None-Match": {`"x"`}}, nil), true},
		{"poll scope", ValidatorKey("mine", "GET", u, nil, nil), false},
	} {
		if (tc.key == plain) != tc.equal {
			t.Errorf("%s: same key %v; want %v", tc.name, tc.key == plain, tc.equal)
		}
	}
	if ValidatorKey("", "GET", u, http.Header{"Accept": {"a"}}, nil) == ValidatorKey("", "GET", u, http.Header{"Accept": {"b"}}, nil) {
		t.Error("two Accept values share a key")
	}
}

// A batch's poll scope keeps its change state apart: the same page polled
// by a batch without one and then by one with its own says changed to
// each the first time, and the scoped one's second poll is a 304.
func TestValidatorsPollScope(t *testing.T) {
	p := fetchtest.NewPolled(t)
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store})
	if r, _ := fetch(f, p.URL("/etag"), 5*time.Second); changedOf(r) != "true" {
		t.Fatalf("first unscoped poll: %+v", r)
	}
	mine := &wire.RequestOptions{Poll: "mine"}
	for i, want := range []string{"true", "false"} {
		r := f.Do(context.Background(), wire.Request{URL: p.URL("/etag")}, mine, 5*time.Second)
		if r.Error != "" || changedOf(r) != want {
			t.Errorf("scoped poll %d: %+v changed %s; want %s", i+1, r, changedOf(r), want)
		}
	}
	if n := len(store.all()); n != 2 {
		t.Errorf("%d keys kept; want 2, one per scope", n)
	}
}

// A body cut at max-body is hashed only in part, so a change past the
// cut would go unseen: such a result always says changed, polled again
// and again, and keeps no hash.
func TestValidatorsTruncatedBodyIsChanged(t *testing.T) {
	p := fetchtest.NewPolled(t)
	store := &memValidators{}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Validators: store, MaxBody: 8})
	for i := range 2 {
		r, _ := fetch(f, p.URL("/static"), 5*time.Second)
		if r.Error != "" || r.Status != 200 || !r.BodyTruncated || changedOf(r) != "true" {
			t.Errorf("poll %d: %+v changed %s; want a cut 200, changed", i+1, r, changedOf(r))
		}
	}
	for _, v := range store.all() {
		if v.SHA256 != "" {
			t.Errorf("kept the hash of a cut body: %+v", v)
		}
	}
}
