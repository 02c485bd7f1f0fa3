package main

// The list of URLs that fetchstream publish -f takes, in every batch form
// the service reads (wire.DecodeBatch): one URL a line (blank lines and #
// comment lines skipped), a JSON array of URL strings, or a JSON object
// batch, whose settings and request objects come with it.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fetchstream/fetchstream/wire"
)

// readURLListFile reads the list of the named file, or of standard input for "-";
// its errors name the file.
func readURLListFile(name string) (wire.Batch, error) {
	if name == "-" {
		return readURLList(os.Stdin, name)
	}
	f, err := os.Open(name)
	if err != nil {
		return wire.Batch{}, err
	}
	defer f.Close()
	return readURLList(f, name)
}

// readURLList reads r to its end as one batch: a JSON array when its first
// character (after white space) is '[', a JSON object batch when it is
// '{', else one URL per line, blanks trimmed, blank and # lines skipped,
// in order. A list that holds no URL is a batch without URLs, not an
// error (URLs may come from elsewhere). name is r's name in errors.
func readURLList(r io.Reader, name string) (wire.Batch, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return wire.Batch{}, fmt.Errorf("read %s: %w", name, err)
	}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\ufeff")))
	if len(trimmed) == 0 {
		return wire.Batch{}, nil
	}
	if c := trimmed[0]; c != '[' && c != '{' {
		var b wire.Batch
		for line := range strings.Lines(string(trimmed)) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				b.URLs = append(b.URLs, wire.Request{URL: line})
			}
		}
		return b, nil
	}
	b, err := wire.DecodeBatch(trimmed, "")
	if err != nil {
		return wire.Batch{}, fmt.Errorf("read %s: %s", name, strings.TrimPrefix(err.Error(), wire.ErrBadBatch.Error()+": "))
	}
	return b, nil
}
