package client_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docs/go.md opens with how another module depends on fetchstream: its
// go.mod (require and replace) and a program. This builds that program,
// as the page shows it, in a module in a temporary directory outside the
// repository, the replace pointing at this repository. The module cache
// serves the dependencies: the repository's go.sum comes along, and
// GOFLAGS=-mod=mod lets the go command add the requirements it finds.
func TestDocsModuleBuildsFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "docs", "go.md"))
	if err != nil {
		t.Fatal(err)
	}
	goMod, program := fenced(t, string(page), "module "), fenced(t, string(page), "package main")
	if !strings.Contains(goMod, "replace github.com/fetchstream/fetchstream => ../fetchstream") {
		t.Fatalf("docs/go.md's go.mod has no replace of ../fetchstream:\n%s", goMod)
	}
	dir := t.TempDir()
	goMod = strings.ReplaceAll(goMod, "../fetchstream", root)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"go.mod": []byte(goMod), "main.go": []byte(program), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", filepath.Join(dir, "fetchdemo"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build in a module outside the repository: %v\n%s\ngo.mod:\n%s", err, out.String(), goMod)
	}
}

// fenced is the first fenced code block of page whose text starts with
// start.
func fenced(t *testing.T, page, start string) string {
	t.Helper()
	parts := strings.Split(page, "```")
	for i := 1; i < len(parts); i += 2 {
		_, body, _ := strings.Cut(parts[i], "\n") // after the fence's language
		if strings.HasPrefix(body, start) {
			return body
		}
	}
	t.Fatalf("docs/go.md has no code block starting with %q", start)
	return ""
}
