package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's Dockerfile's last stage becomes a build from local
// files: each COPY --from=build reads what the sources put in dir, and the
// rest (USER, ENTRYPOINT, HEALTHCHECK) passes through.
func TestRuntimeStageOfTheDockerfile(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "fetchstream")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	final, err := RuntimeStage(string(dockerfile), map[string]string{
		"/out/fetchstream": bin, "/out/tmp": "", "/etc/ssl/certs/ca-certificates.crt": "/nonexistent",
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM scratch", "COPY  build/out/fetchstream /fetchstream", "USER 65532:65532",
		`ENTRYPOINT ["/fetchstream"]`, "HEALTHCHECK"} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(final, "--from=") {
		t.Errorf("final stage still copies from another stage:\n%s", final)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "build", "out", "fetchstream")); err != nil || string(data) != "binary" {
		t.Errorf("staged binary: %q, %v", data, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "build", "out", "tmp")); err != nil || !info.IsDir() {
		t.Errorf("staged /tmp: %v", err)
	}
	if _, err := RuntimeStage("FROM golang\nRUN true\n", nil, dir); err == nil {
		t.Error("a last stage not FROM scratch was accepted")
	}
}
