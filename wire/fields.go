package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// A batch object, and a request object in its urls, may hold only the
// fields this package knows. An unknown field is refused rather than
// ignored: a misspelt "url" for "urls", "robot" for "robots" or
// "per_host_limit" would otherwise change what the batch does (no
// politeness, a default timeout) without a word, and a field that a newer
// client sends to an older service would be dropped in silence. The error
// names every unknown field, and the fields that are known.

// jsonFields is the JSON names of t's fields, those of embedded structs
// included, in declaration order.
func jsonFields(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && f.Type.Kind() == reflect.Struct && name == "":
			names = append(names, jsonFields(f.Type)...)
		case f.IsExported():
			if name == "" {
				name = f.Name
			}
			names = append(names, name)
		}
	}
	return names
}

var (
	batchFields   = jsonFields(reflect.TypeFor[Batch]())
	requestFields = jsonFields(reflect.TypeFor[request]())
)

// unknownFieldError names the fields of a JSON object that are not in
// known, as encoding/json matches them (case-insensitively).
type unknownFieldError struct {
	what    string // "batch object", "request object"
	url     string // a request object's url, if it has one
	unknown []string
	more    int // unknown fields not named
	known   []string
}

func (e *unknownFieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.what)
	if e.url != "" {
		fmt.Fprintf(&b, " for %q", e.url)
	}
	quoted := make([]string, len(e.unknown))
	for i, f := range e.unknown {
		quoted[i] = fmt.Sprintf("%q", f)
		if near := nearest(f, e.known); near != "" {
			quoted[i] += fmt.Sprintf(" (did you mean %q?)", near)
		}
	}
	field := "field"
	if len(e.unknown)+e.more > 1 {
		field = "fields"
	}
	named := strings.Join(quoted, ", ")
	if e.more > 0 {
		named += fmt.Sprintf(" and %d more", e.more)
	}
	fmt.Fprintf(&b, " has unknown %s %s; its fields are %s", field, named, strings.Join(e.known, ", "))
	return b.String()
}

// Bounds of what an unknownFieldError repeats of its input: the input may
// be hostile, and the error goes into the batch's summary, its reply and
// its dead letter.
const (
	maxNamedFields = 8  // unknown fields named; the rest are counted
	maxNamedLen    = 64 // bytes of a field's name, or of the url, repeated
)

// checkFields returns an *unknownFieldError when the JSON object data
// holds a key that matches none of known, else nil (also when data is
// not an object: the decoder says what is wrong then). It reads the keys
// in one pass, in the order they appear, and names at most
// maxNamedFields of them, each cut to maxNamedLen bytes.
func checkFields(data []byte, what string, known []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	e := &unknownFieldError{what: what, known: known}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return nil
		}
		switch {
		case containsFold(known, key):
			if strings.EqualFold(key, "url") && e.url == "" {
				_ = json.Unmarshal(raw, &e.url)
			}
		case seen[key]:
		case len(e.unknown) < maxNamedFields:
			seen[key] = true
			e.unknown = append(e.unknown, cutName(key))
		default:
			seen[key] = true
			e.more++
		}
	}
	if len(e.unknown) == 0 {
		return nil
	}
	e.url = cutName(e.url)
	return e
}

// cutName is s cut to maxNamedLen bytes (at a rune boundary), marked with
// "..." when it was.
func cutName(s string) string {
	if len(s) <= maxNamedLen {
		return s
	}
	i := maxNamedLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// decodeStrict decodes the JSON object data into v, refusing unknown
// fields (see checkFields) and anything after the object.
func decodeStrict(data []byte, v any, what string, known []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err != nil && strings.HasPrefix(err.Error(), "json: unknown field ") {
		if e := checkFields(data, what, known); e != nil {
			return e
		}
	}
	if err == nil && dec.More() {
		var extra json.RawMessage
		err = json.Unmarshal(data, &extra) // says what follows the object
	}
	return err
}

func containsFold(list []string, s string) bool {
	for _, k := range list {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

// nearest is the field of known that s is most likely a slip for (at
// most two edits away, case aside), or "".
func nearest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := EditDistance(strings.ToLower(s), k); d < bestD && d < len(s) {
			best, bestD = k, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, counted in
// bytes: the fewest insertions, deletions and substitutions that turn one
// into the other. Strings over 64 bytes are not compared: either one that
// long gives 64. It is what "did you mean" suggestions are chosen by, for
// a batch's fields here and for the command line's flags.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
