package connectors

import "strings"

// SubjectsCollide reports whether some subject matches both a and b, where
// either may be a pattern with NATS wildcards: "*" matches one token, ">"
// (last) one or more. Two literal subjects collide when they are equal;
// "fetch.*" and "fetch.results" collide, "fetch.*" and "fetch.a.b" do not,
// "fetch.>" and "fetch.a.b" do. It is how a configuration is checked for a
// loop: a subject the service publishes on must not collide with one it
// reads from. Tokens are compared as written: a and b are taken to be
// valid subjects (non-empty tokens, ">" only last).
func SubjectsCollide(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) || i == len(bt):
			return len(at) == len(bt)
		case at[i] == ">" || bt[i] == ">":
			return true // the other has a token here; ">" takes it and all after it
		case at[i] == "*" || bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}
