package wire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// BatchFields returns the fields a batch object may hold, in the order
// Batch declares them (those of RequestOptions after Batch's own): the
// very list DecodeBatch accepts and names in its "its fields are ..."
// error. It is a new slice at each call.
func BatchFields() []string { return slices.Clone(batchFields) }

// RequestFields returns the fields a request object (an item of a batch's
// urls) may hold, in the order Request declares them, as DecodeBatch
// accepts them. It is a new slice at each call.
func RequestFields() []string { return slices.Clone(requestFields) }

// fieldForms are the value forms BatchFormat shows beside the fields
// that take more than a string; a field of both objects (method,
// headers, credential) takes the same form in each. Every key is a field
// of BatchFields or RequestFields (a test holds them to it).
func fieldForms() map[string]string {
	codes := make([]string, 0, len(RetryableStatuses()))
	for _, code := range RetryableStatuses() {
		codes = append(codes, strconv.Itoa(code))
	}
	return map[string]string{
		"headers": "{name: value}", "body": "string | JSON", "credential": "name",
		"timeout_ms": "ms", "concurrency": "n", "priority": fmt.Sprintf("%d-%d", MinPriority, MaxPriority),
		"per_host_rate": "req/s", "robots": "bool",
		"response_headers": "[name]", "follow_redirects": "bool",
		"retry_on": "[" + strings.Join(codes, "|") + "]", "retry_unsafe": "bool",
		"conditional": "bool", "poll": "name",
	}
}

// BatchFormat describes the batch forms DecodeBatch accepts, in one line
// for people and service discovery (the micro service's request_format):
// text, a JSON array of URLs, or the object with every field of
// BatchFields, urls first with every field of RequestFields. It is built
// from the decoder's own lists, so it names every field the decoder
// accepts and no other.
func BatchFormat() string {
	forms := fieldForms()
	list := func(fields []string, skip string) string {
		parts := make([]string, 0, len(fields))
		for _, f := range fields {
			if f == skip {
				continue
			}
			part := strconv.Quote(f)
			if form := forms[f]; form != "" {
				part += ": " + form
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, ", ")
	}
	return `text (one URL a line), a JSON array of URLs, or {"urls": [URL | {` + list(requestFields, "") + `}], ` +
		list(batchFields, "urls") + `}`
}
