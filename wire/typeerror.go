package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// A batch whose JSON has a value of the wrong type ([1, 2], "urls": "x",
// "timeout_ms": "5s") is refused in the batch's terms: where the value
// is, as a path of the batch's JSON ("urls[0]", "urls[2].headers",
// "timeout_ms"), what belongs there and what came, rather than in
// encoding/json's ("cannot unmarshal number into Go value of type
// string").

// typeError is a JSON value of the wrong type.
type typeError struct {
	where string // the value's path in the batch: "[1]", "urls[0].url", "timeout_ms"
	want  string // what belongs there: "a URL string"
	got   string // what came: "a number", "1.5"
}

func (e *typeError) Error() string {
	return fmt.Sprintf("%s: want %s, got %s", e.where, e.want, e.got)
}

// wantItem is what an item of a batch object's urls must be.
const wantItem = "a URL string or a request object"

// itemTypeError is the error of an item of urls (raw) that is neither a
// string nor an object; where is "an item of urls" until the batch says
// which one.
func itemTypeError(raw []byte) *typeError {
	return &typeError{where: "an item of urls", want: wantItem, got: jsonKind(raw)}
}

// arrayTypeError is, for a JSON array batch (data) that
// encoding/json refused with err, the first item that is not a URL
// string; else nil.
func arrayTypeError(data []byte, err error) *typeError {
	var items []json.RawMessage
	if json.Unmarshal(data, &items) != nil {
		return nil
	}
	for i, raw := range items {
		if len(raw) > 0 && raw[0] != '"' {
			want := "a URL string"
			if raw[0] == '{' {
				want += ` (request objects go in the object form, {"urls": [...]})`
			}
			return &typeError{where: fmt.Sprintf("[%d]", i), want: want, got: jsonKind(raw)}
		}
	}
	return asTypeError(err, "", nil)
}

// objectTypeError is, for a batch object (data) that encoding/json
// refused with err, err in the batch's terms when it is a value of the
// wrong type; else nil. A wrong item of urls, or a wrong value inside a
// request object, is named by its index: the items are decoded again one
// by one to find the first that fails.
func objectTypeError(data []byte, err error) *typeError {
	var te *typeError
	var jte *json.UnmarshalTypeError
	inItem := errors.As(err, &te) ||
		errors.As(err, &jte) && strings.HasPrefix(jsonPath(jte.Field), "urls.")
	if !inItem {
		return asTypeError(err, "", reflect.TypeFor[Batch]())
	}
	var obj struct {
		URLs []json.RawMessage `json:"urls"`
	}
	if json.Unmarshal(data, &obj) != nil {
		return asTypeError(err, "", nil)
	}
	for i, raw := range obj.URLs {
		var r Request
		if itemErr := json.Unmarshal(raw, &r); itemErr != nil {
			return asTypeError(itemErr, fmt.Sprintf("urls[%d]", i), reflect.TypeFor[request]())
		}
	}
	return asTypeError(err, "", nil)
}

// asTypeError is err as a *typeError, its path under item ("urls[2]")
// when that is given; nil when err is no type error. root is the Go type
// decoded (Batch, request), to say "an object of strings" rather than "a
// string" when the value is inside a field's object or array.
func asTypeError(err error, item string, root reflect.Type) *typeError {
	var te *typeError
	if errors.As(err, &te) {
		moved := *te
		if item != "" {
			moved.where = item
		}
		return &moved
	}
	var jte *json.UnmarshalTypeError
	if !errors.As(err, &jte) {
		return nil
	}
	field := jsonPath(jte.Field)
	e := &typeError{where: field, want: wantOf(jte.Type), got: jte.Value}
	if item != "" {
		e.where = strings.TrimSuffix(item+"."+field, ".")
	}
	switch {
	case strings.HasPrefix(e.got, "number "): // a number out of the type's range, or not whole: as sent, cut
		e.got = cutName(strings.TrimPrefix(e.got, "number "))
	case e.got == "bool":
		e.got = "a boolean"
	default:
		e.got = article(e.got)
	}
	if t := fieldType(root, field); t != nil && t != jte.Type && (t.Kind() == reflect.Map || t.Kind() == reflect.Slice) {
		e.want, e.got = wantOf(t), e.got+" in it" // a value inside the field's object or array
	}
	return e
}

// fieldType is the Go type of root's field whose JSON name is name
// (fields of embedded structs included), pointers taken away; nil when
// there is none.
func fieldType(root reflect.Type, name string) reflect.Type {
	if root == nil || name == "" {
		return nil
	}
	for f := range root.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			if t := fieldType(f.Type, name); t != nil {
				return t
			}
			continue
		}
		if tag == name {
			t := f.Type
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			return t
		}
	}
	return nil
}

// jsonPath is encoding/json's path of a field without the Go names in it
// (the embedded RequestOptions): "RequestOptions.method" is "method".
func jsonPath(field string) string {
	var kept []string
	for part := range strings.SplitSeq(field, ".") {
		if part != "" && !unicode.IsUpper(rune(part[0])) {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, ".")
}

// wantOf says what JSON a value of Go type t takes.
func wantOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[Request]():
		return wantItem
	case t == reflect.TypeFor[[]Request]():
		return "an array of URL strings and request objects"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Map:
		return "an object of " + plural(wantOf(t.Elem()))
	case reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array of " + plural(wantOf(t.Elem()))
	}
	return t.Kind().String()
}

// plural turns "a string" into "strings", "a whole number" into "whole
// numbers"; other wants stay as they are.
func plural(want string) string {
	if rest, ok := strings.CutPrefix(want, "a "); ok && !strings.Contains(rest, " or ") {
		return rest + "s"
	}
	if rest, ok := strings.CutPrefix(want, "an "); ok && !strings.Contains(rest, " or ") {
		return rest + "s"
	}
	return want
}

// jsonKind names the kind of the JSON value raw: "a number", "an
// object", "a string", "an array", or the literal true, false or null.
func jsonKind(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "":
		return "nothing"
	case s[0] == '"':
		return "a string"
	case s[0] == '{':
		return "an object"
	case s[0] == '[':
		return "an array"
	case s == "true" || s == "false" || s == "null":
		return s
	}
	return "a number"
}

// article puts "a" or "an" before a JSON kind as encoding/json names it
// ("string", "array", "object").
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
