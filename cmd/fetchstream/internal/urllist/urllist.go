// Package urllist reads the list of URLs that fetchstream publish -f
// takes: a JSON array of URL strings, or one URL per line. Request
// objects are not read: a list is URLs, and the request flags (-X, -H,
// --data) apply to every one.
package urllist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// File reads the URLs of the named file, or of standard input for "-";
// its errors name the file.
func File(name string) ([]string, error) {
	if name == "-" {
		return Read(os.Stdin, name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, name)
}

// Read reads r to its end: a JSON array of URL strings when its first
// character (after white space) is '[', else one URL per line, blanks
// trimmed and blank lines skipped, in order. name is r's name in errors.
func Read(r io.Reader, name string) ([]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var urls []string
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte("[")) {
		if err := json.Unmarshal(trimmed, &urls); err != nil {
			return nil, fmt.Errorf("read %s: it starts with [ but is not a JSON array of URL strings: %w", name, err)
		}
		return urls, nil
	}
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" {
			urls = append(urls, line)
		}
	}
	return urls, nil
}
