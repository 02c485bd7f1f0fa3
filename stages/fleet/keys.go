package fleet

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// This file names the bucket's keys. A key must be made of [-/_=.a-zA-Z0-9],
// and host keys hold ports, IDN, brackets: each is base64url (b.<...>),
// or, when long, its SHA-256 (h.<...>), so no two names share a key and
// no name makes a key longer than ~200 bytes.

const maxPlainKey = 150

// kvKey is the key of name under kind (pace, pause, robots, robotslock).
func kvKey(kind, name string) string {
	if name == "" {
		return kind + "._"
	}
	if len(name) <= maxPlainKey {
		return kind + ".b." + base64.RawURLEncoding.EncodeToString([]byte(name))
	}
	sum := sha256.Sum256([]byte(name))
	return kind + ".h." + hex.EncodeToString(sum[:])
}
