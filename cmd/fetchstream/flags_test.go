package main

import (
	"strings"
	"testing"
)

// A failed connect names the server without its password.
func TestConnectErrorHidesPassword(t *testing.T) {
	flags := natsFlags{url: "nats://alice:s3cret@127.0.0.1:1,nats://127.0.0.1:2"}
	_, err := flags.connect("", "test")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "alice") {
		t.Errorf("got %v, want an error naming the servers without the password", err)
	}
}
