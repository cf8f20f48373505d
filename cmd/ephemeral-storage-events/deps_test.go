package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leaderElectionDeps are what only the events role may link: leader election and the generated
// clientset, which registers every API group (k8s.io/client-go/kubernetes/scheme) and cost the
// agent 17 MB of binary and ~16 MiB of peak RSS when it linked them.
var leaderElectionDeps = []string{
	"k8s.io/client-go/kubernetes",
	"k8s.io/client-go/kubernetes/scheme",
	"k8s.io/client-go/tools/leaderelection",
	"k8s.io/client-go/tools/leaderelection/resourcelock",
}

func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool runs the tests")
	raw, err := exec.Command(goBin, "list", "-deps", pkg).Output()
	require.NoError(t, err)
	return strings.Fields(string(raw))
}

// TestAgentLinksNoLeaderElection keeps the agent's binary and RSS small: what the events role
// needs stays in this binary. The events role's own list proves the names are the ones linked.
func TestAgentLinksNoLeaderElection(t *testing.T) {
	agent := goListDeps(t, "../ephemeral-storage-exporter")
	require.True(t, slices.Contains(agent, "github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"), "the dependency list is the agent's")
	events := goListDeps(t, ".")
	for _, dep := range leaderElectionDeps {
		assert.Contains(t, events, dep, "the events role links %s", dep)
		assert.NotContains(t, agent, dep, "the agent must not link %s (cmd/ephemeral-storage-events does)", dep)
	}
}
