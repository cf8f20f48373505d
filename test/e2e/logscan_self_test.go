package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogScannerSkipsTheAgentsOwnLog: with logScan enabled (TestEmptyDirEviction's log-scanner
// subtest leaves the release so, reading /var/log/pods with supplementalGroups [0]), the agent's
// own container log is under the scanned directory too. Its "write failed on a read-only
// filesystem" lines quote the failure they report ("open /rologger: read-only file system"), so
// a scanner that reads them counts a failure of the agent itself, logs that, reads that line in
// turn, and so on: a count that grows for ever and an EphemeralStorageReadOnlyWriteFailures alert
// on the agent. The agent must count no read-only failure of its own pods. Runs after
// TestKubeletCPUPerSummaryRequest, a minute after the scanner was enabled.
func TestLogScannerSkipsTheAgentsOwnLog(t *testing.T) {
	e := loadEnv(t)
	if os.Getenv("E2E_LOOP_NODEFS") != "" {
		t.Skip("runs on the main cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	a, err := waitAgentReady(ctx, e, cs, agentRelease, agentNamespace, 5*time.Second)
	if err != nil {
		t.Skipf("no installed agent (TestEmptyDirEviction installs it): %v", err)
	}
	if !strings.Contains(strings.Join(a.Pod.Spec.Containers[0].Args, " "), "--logscan.enabled") {
		t.Skipf("the agent's log scanner is not enabled (args %v): TestEmptyDirEviction's log-scanner subtest enables it", a.Pod.Spec.Containers[0].Args)
	}
	var own []string
	for _, s := range scrape(t, hc, a.URL) {
		if s.name == "ephemeral_storage_read_only_write_failures_total" && s.labels["namespace"] == agentNamespace {
			own = append(own, fmt.Sprintf("%v = %v", s.labels, s.value))
		}
	}
	if len(own) == 0 {
		t.Logf("the agent counted no read-only failure of its own pods")
		return
	}
	var counted []string
	if log, err := saveAgentLog(ctx, cs, e, a.Pod); err == nil {
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, `"namespace":"`+agentNamespace+`"`) && strings.Contains(l, `"logged_source":"container_log"`) {
				counted = append(counted, l)
			}
		}
		_ = os.Rename(filepath.Join(e.Artifacts, "logs", "agent.log"), filepath.Join(e.Artifacts, "logs", "agent-logscan-self.log"))
	}
	first := "(none in the log)"
	if len(counted) > 0 {
		first = counted[0]
	}
	t.Errorf("the log scanner counts the agent's own log as read-only failures of the agent (pod %s): %s; %d such log lines, the first: %.600s",
		a.Pod.Name, strings.Join(own, "; "), len(counted), first)
}
