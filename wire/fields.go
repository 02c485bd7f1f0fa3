package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
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
	if len(e.unknown) > 1 {
		field = "fields"
	}
	fmt.Fprintf(&b, " has unknown %s %s; its fields are %s", field, strings.Join(quoted, ", "), strings.Join(e.known, ", "))
	return b.String()
}

// checkFields returns an *unknownFieldError when the JSON object data
// holds a key that matches none of known, else nil (also when data is
// not an object: the decoder says what is wrong then).
func checkFields(data []byte, what string, known []string) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return nil
	}
	var unknown []string
	for key := range obj {
		if !containsFold(known, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sortByOffset(data, unknown)
	e := &unknownFieldError{what: what, unknown: unknown, known: known}
	if raw, ok := obj["url"]; ok && containsFold(known, "url") {
		_ = json.Unmarshal(raw, &e.url)
	}
	return e
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

// sortByOffset orders keys as they first appear in data.
func sortByOffset(data []byte, keys []string) {
	pos := func(k string) int {
		q, _ := json.Marshal(k)
		return bytes.Index(data, q)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && pos(keys[j]) < pos(keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// nearest is the field of known that s is most likely a slip for (at
// most two edits away, case aside), or "".
func nearest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), k); d < bestD && d < len(s) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
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
