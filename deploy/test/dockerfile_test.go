package test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// finalStage returns the instructions of a Dockerfile's last stage, keyword upper-cased, comments
// and continuations joined.
func finalStage(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var stage []string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" && cur == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = cur + line
		cur = ""
		if line == "" {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		kw = strings.ToUpper(kw)
		if kw == "FROM" {
			stage = nil
		}
		stage = append(stage, kw+" "+strings.TrimSpace(rest))
	}
	require.NoError(t, sc.Err())
	return stage
}

func instr(stage []string, kw string) []string {
	var out []string
	for _, s := range stage {
		if strings.HasPrefix(s, kw+" ") {
			out = append(out, s)
		}
	}
	return out
}

func TestDockerfiles(t *testing.T) {
	release := finalStage(t, filepath.Join(repoRoot, "Dockerfile"))
	build := finalStage(t, filepath.Join(repoRoot, "Dockerfile.build"))
	for name, stage := range map[string][]string{"Dockerfile": release, "Dockerfile.build": build} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, []string{"FROM scratch"}, instr(stage, "FROM"), "an empty base")
			assert.Equal(t, []string{"USER 65532:65532"}, instr(stage, "USER"), "the UID/GID the pod spec runs as")
			assert.Equal(t, []string{"EXPOSE 9847"}, instr(stage, "EXPOSE"))
			assert.Equal(t, []string{`ENTRYPOINT ["/bin/ephemeral-storage-exporter"]`}, instr(stage, "ENTRYPOINT"))
			assert.Empty(t, instr(stage, "RUN"), "nothing runs in the final stage (no shell)")
		})
	}
	for _, kw := range []string{"USER", "EXPOSE", "ENTRYPOINT", "CMD"} {
		assert.Equal(t, instr(release, kw), instr(build, kw), "%s: Dockerfile and Dockerfile.build disagree", kw)
	}
	// Both binaries, in one layer: the agent (the entrypoint) and the events role (the command of
	// its Deployment, TestEventsRole).
	assert.Equal(t, []string{"COPY bin/ephemeral-storage-exporter bin/ephemeral-storage-events /bin/"}, instr(release, "COPY"))
	assert.Equal(t, []string{"COPY --from=builder /out/ephemeral-storage-exporter /out/ephemeral-storage-events /bin/"}, instr(build, "COPY"))

	// The binaries Dockerfile copies are the ones `make build` makes, static and stripped.
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	require.NoError(t, err)
	for _, s := range []string{"BIN       := bin/ephemeral-storage-exporter", "EVENTS_BIN := bin/ephemeral-storage-events", "-o $(EVENTS_BIN) ./cmd/ephemeral-storage-events", "CGO_ENABLED=0", "-trimpath", "-s -w"} {
		assert.Contains(t, string(mk), s)
	}
}
