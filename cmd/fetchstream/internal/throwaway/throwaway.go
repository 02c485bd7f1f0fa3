// Package throwaway starts the NATS server of a command that needs one
// only while it runs (demo, bench).
package throwaway

import (
	"os"

	"github.com/fetchstream/fetchstream/connectors/embedded"
)

// NATS starts an embedded server on a free loopback port, with JetStream
// in a new temporary directory named after name. stop shuts it down and
// removes the directory.
func NATS(name string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "fetchstream-"+name+"-")
	if err != nil {
		return "", nil, err
	}
	ns, err := embedded.Start(embedded.Config{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return ns.ClientURL(), func() {
		ns.Shutdown()
		os.RemoveAll(dir)
	}, nil
}
