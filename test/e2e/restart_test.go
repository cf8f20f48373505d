//go:build linux

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestAPIServerRestart (issue 18): the API server stops while the installed agent runs (the helm
// release of TestEmptyDirEviction, installed here when run alone) and starts again, as up.sh
// started it ($E2E_WORKDIR/kube-apiserver.cmdline). The agent's pod watch comes back through a
// re-list (the new API server's audit log has the agent's list and watch of pods), a pod created
// after the restart is seen, and nothing is counted twice: every eviction and read-only failure
// series the watches feed has exactly the value it had before, plus the new pod's single failure.
// Series with source="container_log" are left out: the log scanner reads files, not the API
// server, on its own 10 s cadence (a failure's log count may land on either side of the restart).
func TestAPIServerRestart(t *testing.T) {
	e := loadEnv(t)
	if os.Getenv("E2E_LOOP_NODEFS") != "" {
		t.Skip("runs on the main cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	timing := newTimings(t, e)
	agent, err := waitAgentReady(ctx, e, cs, agentRelease, agentNamespace, 5*time.Second)
	if err != nil {
		agent = helmInstall(ctx, t, e, cs) // run alone (E2E_RUN=TestAPIServerRestart)
	}
	t.Cleanup(func() {
		if _, err := saveAgentLog(context.Background(), cs, e, agent.Pod); err == nil {
			_ = os.Rename(filepath.Join(e.Artifacts, "logs", "agent.log"), filepath.Join(e.Artifacts, "logs", "agent-apiserver-restart.log"))
		}
	})
	ensureNamespace(ctx, t, cs, scenarioNS)
	var report strings.Builder
	defer func() {
		_ = os.WriteFile(filepath.Join(e.Artifacts, "apiserver-restart.txt"), []byte(report.String()), 0o644)
	}()

	// A failure this agent counts before the restart, so that there is something to count twice.
	roFailure(ctx, t, e, cs, hc, agent.URL, "rofail-before-restart")
	before := counterSeries(t, hc, agent.URL)
	fmt.Fprintf(&report, "agent pod %s (%s); counters before the restart:\n%s", agent.Pod.Name, agent.URL, formatSeries(before))
	timing("apiserver-restart: counted rofail-before-restart")

	stopped, started := restartAPIServer(t, e, hc)
	fmt.Fprintf(&report, "kube-apiserver stopped %s, started again %s, ready %s\n",
		stopped.Format(time.RFC3339Nano), started.Format(time.RFC3339Nano), time.Now().Format(time.RFC3339Nano))
	timing(fmt.Sprintf("apiserver-restart: kube-apiserver down %.1fs, ready again", time.Since(stopped).Seconds()))

	// The agent's pod informer lists again and watches from there, on the new API server.
	var lists, watches []auditEvent
	eventually(t, 90*time.Second, time.Second, "the agent to list and watch pods again on the restarted API server", func() (bool, string) {
		lists = auditEvents(t, e, agentUser, started, func(ev auditEvent) bool {
			return ev.Verb == "list" && ev.ObjectRef.Resource == "pods" && ev.Stage == "ResponseComplete" && ev.ResponseStatus.Code == 200
		})
		watches = auditEvents(t, e, agentUser, started, func(ev auditEvent) bool {
			return ev.Verb == "watch" && ev.ObjectRef.Resource == "pods" && ev.Stage == "ResponseStarted" && ev.ResponseStatus.Code == 200
		})
		return len(lists) > 0 && len(watches) > 0, fmt.Sprintf("%d lists, %d watches of pods by %s since %s", len(lists), len(watches), agentUser, started.Format(time.RFC3339))
	})
	for _, ev := range append(lists[:1], watches[:1]...) {
		fmt.Fprintf(&report, "audit: %s %s %s at %s\n", ev.Verb, ev.RequestURI, ev.Stage, ev.RequestReceived.Format(time.RFC3339Nano))
		if !strings.Contains(ev.RequestURI, "fieldSelector=spec.nodeName%3D"+e.Node) {
			t.Errorf("the agent's %s of pods is not field-selected on its node: %s", ev.Verb, ev.RequestURI)
		}
	}
	timing(fmt.Sprintf("apiserver-restart: the agent re-listed pods %.1fs after the API server started", lists[0].RequestReceived.Sub(started).Seconds()))
	// What the agent's client-go said meanwhile (its reflectors log in the agent's format).
	if log, err := saveAgentLog(ctx, cs, e, agent.Pod); err == nil {
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, `"source":"reflector.go`) {
				fmt.Fprintf(&report, "agent log: %.400s\n", l)
			}
		}
	}

	// A pod created after the restart is seen (its failure counted once), and nothing else moved.
	roFailure(ctx, t, e, cs, hc, agent.URL, "rofail-after-restart")
	after := counterSeries(t, hc, agent.URL)
	fmt.Fprintf(&report, "counters after the restart:\n%s", formatSeries(after))
	want := maps.Clone(before)
	var added []string
	for k := range after {
		if _, ok := before[k]; !ok {
			added = append(added, k)
		}
	}
	if len(added) != 1 || !strings.Contains(added[0], `workload="rofail-after-restart"`) {
		t.Errorf("series new after the restart: %v; want exactly the failure of rofail-after-restart", added)
	} else {
		want[added[0]] = 1
	}
	for k, v := range want {
		if after[k] != v {
			t.Errorf("%s = %v after the restart, want %v (before: %v)", k, after[k], v, before[k])
		}
	}
	if len(after) != len(want) {
		t.Errorf("after the restart %d counter series, want %d:\n%s", len(after), len(want), formatSeries(after))
	}
	t.Log(report.String())
	timing("apiserver-restart: done")
}

// restartAPIServer stops the API server up.sh started (SIGKILL to the pid in
// $E2E_WORKDIR/kube-apiserver.pid), waits until it is gone and its port closed, starts it again
// with the same command line (kube-apiserver.cmdline; log logs/kube-apiserver-restarted.log),
// writes the new pid to the pid file (up.sh's teardown stops it) and waits for /readyz.
func restartAPIServer(t *testing.T, e env, hc *http.Client) (stopped, started time.Time) {
	t.Helper()
	pidFile := filepath.Join(e.WorkDir, "kube-apiserver.pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	cmdline, err := os.ReadFile(filepath.Join(e.WorkDir, "kube-apiserver.cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\n"), "\n")
	stopped = time.Now()
	// SIGKILL, as a crash: on SIGTERM it stops listening at once but holds the open watches for
	// its 60 s shutdown timeout ("Failed to shutdown server: context deadline exceeded", seen
	// here), so the agent would keep watching a dying server for a minute.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill kube-apiserver (pid %d): %v", pid, err)
	}
	eventually(t, 60*time.Second, 200*time.Millisecond, "kube-apiserver to exit and close :443", func() (bool, string) {
		if processAlive(pid) {
			return false, fmt.Sprintf("pid %d still running", pid)
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:443", time.Second)
		if err == nil {
			c.Close()
			return false, ":443 still accepts connections"
		}
		return true, ""
	})
	logf, err := os.Create(filepath.Join(e.Artifacts, "logs", "kube-apiserver-restarted.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kube-apiserver again: %v", err)
	}
	// It outlives this test (the rest of the run uses it); up.sh's teardown stops the pid in the file.
	go func() { _ = cmd.Wait(); logf.Close() }()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	token := adminBearer(t, e)
	eventually(t, 90*time.Second, 500*time.Millisecond, "the restarted kube-apiserver's /readyz", func() (bool, string) {
		if !processAlive(cmd.Process.Pid) {
			return false, "kube-apiserver exited (logs/kube-apiserver-restarted.log)"
		}
		code, body, err := get(hc, e.APIServer+"/readyz", token)
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %v %.200s", code, err, body)
	})
	return stopped, started
}

// processAlive: pid exists and is not a zombie (up.sh's shell reaps its children only when it
// gets to it).
func processAlive(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(raw), ") ")
	return ok && !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// roFailure creates a pod that fails writing to its read-only root (exit 1, termination message)
// and waits until the agent at agentURL counts it.
func roFailure(ctx context.Context, t *testing.T, e env, cs *kubernetes.Clientset, hc *http.Client, agentURL, name string) {
	t.Helper()
	p := readOnlyFailPod(e)
	p.Name = name
	if _, err := cs.CoreV1().Pods(scenarioNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	eventually(t, 60*time.Second, time.Second, "the agent counting "+name+"'s read-only failure", func() (bool, string) {
		for _, s := range scrape(t, hc, agentURL) {
			if s.name == "ephemeral_storage_read_only_write_failures_total" && s.labels["namespace"] == scenarioNS && s.labels["workload"] == name &&
				s.labels["source"] == "termination_message" {
				return true, ""
			}
		}
		got, err := cs.CoreV1().Pods(scenarioNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return false, podState(got)
	})
}

// counterSeries are the agent's eviction and read-only failure counters fed by its watches (not
// the log scanner's, source="container_log"), keyed by name and labels.
func counterSeries(t *testing.T, hc *http.Client, agentURL string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range scrape(t, hc, agentURL) {
		if s.name != "ephemeral_storage_evictions_total" && s.name != "ephemeral_storage_read_only_write_failures_total" ||
			s.labels["source"] == "container_log" {
			continue
		}
		var ls []string
		for k, v := range s.labels {
			ls = append(ls, fmt.Sprintf("%s=%q", k, v))
		}
		sort.Strings(ls)
		out[s.name+"{"+strings.Join(ls, ",")+"}"] = s.value
	}
	return out
}

func formatSeries(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "  %s %v\n", k, m[k])
	}
	return b.String()
}
