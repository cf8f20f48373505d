package main

// The hostile-input suite (issue 12): the real binary against a fake API server answering in
// protobuf, as real API servers do, and a fake kubelet, fed what a tenant who can create pods and
// Events can send. Every scenario ends with the same checks (checkSurvived): the process is alive,
// /metrics parses with expfmt and `promtool check metrics`, the counters hold exactly the genuine
// events plus what the scenario expects (no forged series or count), and peak RSS stays under the
// chart's memory limit. Add a scenario to the table to extend the suite.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

const (
	evictionsTotal = "ephemeral_storage_evictions_total"
	readOnlyTotal  = "ephemeral_storage_read_only_write_failures_total"
	readOnlyText   = "Error: failed to create containerd task: mkdir /run/containerd/x/rootfs/etc/app: read-only file system: unknown"
)

// hostileEnv is one scenario's node, fake cluster and agent.
type hostileEnv struct {
	node *synthetic.Node
	c    *cluster
	p    *agentProcess
}

// hostileScenario is one attack. node changes the node (pods, summary) before the fake API server
// and kubelet start; prepare can change them (or add flags) before the agent starts; attack runs
// once it is ready. want adds to the exact counter totals expected from the genuine marker events;
// present and absent are substrings of /metrics; check asserts anything else at the end.
type hostileScenario struct {
	name    string
	node    func(n *synthetic.Node)
	prepare func(t *testing.T, e *hostileEnv)
	flags   []string
	attack  func(t *testing.T, e *hostileEnv)
	want    map[string]float64
	present []string
	absent  []string
	check   func(t *testing.T, e *hostileEnv, metrics string)
}

func TestHostileInput(t *testing.T) {
	for _, sc := range []hostileScenario{
		{
			name: "invalid UTF-8 in owner references",
			node: func(n *synthetic.Node) {
				n.Pods[0].OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Stateful\xc3\x28Set",
					Name: "evil\xff\xfe-" + strings.Repeat("o", 1000), Controller: ptr(true)}}
			},
			present: []string{`workload_kind="Stateful` + "\uFFFD(" + `Set",workload="evil` + "\uFFFD-" + strings.Repeat("o", 248) + `"}`},
			// 4 + 3 (one U+FFFD for the run of invalid bytes) + 1 + 248 = 256 bytes, label.MaxBytes
			absent: []string{strings.Repeat("o", 249)},
		},
		{
			name: "invalid UTF-8 in Event messages, field paths and annotations",
			attack: func(t *testing.T, e *hostileEnv) {
				pod := e.node.Pods[2]
				ro := podEvent(pod, "bad-utf8-ro", "Failed", "\xff"+readOnlyText+"\xc3\x28", 1)
				ro.InvolvedObject.FieldPath = "spec.containers{\xff\xfe}"
				ro.Annotations = map[string]string{"a\xff": "\xfe"}
				ev := podEvent(pod, "bad-utf8-evicted", "Evicted", "Container \xff\xfe exceeded its local ephemeral storage limit \"1\xffGi\". ", 1)
				ev.Annotations = map[string]string{"offending_containers": "\xff", "starved_resource": "\xfe"}
				e.c.api.AddEvents(ro, ev)
			},
			want:    map[string]float64{evictionsTotal: 1, readOnlyTotal: 1},
			present: []string{`cause="container_limit",container="other"`, `container="other",namespace="team-2",node="synthetic-node",source="event"`},
		},
		{
			name: "forged Events: wrong namespace, foreign UID, huge count, 10,000 volume names",
			attack: func(t *testing.T, e *hostileEnv) {
				victim, own := e.node.Pods[3], e.node.Pods[4]
				wrongNS := podEvent(victim, "forged-ns", "Evicted", `Usage of EmptyDir volume "cache" exceeds the limit "1Mi". `, 1)
				wrongNS.Namespace = "attacker"
				foreignUID := podEvent(victim, "forged-uid", "Evicted", `Usage of EmptyDir volume "cache" exceeds the limit "1Mi". `, 1)
				foreignUID.InvolvedObject.UID = "11111111-0000-4000-8000-000000000000"
				hugeForeign := podEvent(victim, "forged-huge-foreign", "Failed", readOnlyText, 2147483647)
				hugeForeign.InvolvedObject.UID = "11111111-0000-4000-8000-000000000001"
				// The count of an Event about the tenant's own pod rises by a bounded delta.
				huge := podEvent(own, "huge-count", "Failed", readOnlyText, 2147483647)
				huge.InvolvedObject.FieldPath = "spec.containers{" + own.Spec.Containers[0].Name + "}"
				events := []*corev1.Event{wrongNS, foreignUID, hugeForeign, huge}
				for i := range 10000 {
					events = append(events, podEvent(own, fmt.Sprintf("volumes-%05d", i), "Evicted",
						fmt.Sprintf(`Usage of EmptyDir volume "v%05d" exceeds the limit "1Mi". `, i), 1))
				}
				e.c.api.AddEvents(events...)
			},
			// own: one eviction (volume other), read-only failures +10 (the delta cap); victim: nothing.
			want:    map[string]float64{evictionsTotal: 1, readOnlyTotal: 10},
			present: []string{`cause="empty_dir",container="",namespace="` + "team-4" + `"`},
			absent: []string{`namespace="attacker"`, `volume="v0`, `2.147483647e+09`,
				`ephemeral_storage_evictions_total{cause="empty_dir",container="",namespace="team-3"`},
		},
		{
			name: "1,000 large Events for other nodes",
			attack: func(t *testing.T, e *hostileEnv) {
				big := strings.Repeat("x", 64<<10)
				var events []*corev1.Event
				for i := range 1000 {
					ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("elsewhere.%04d", i), Namespace: "team-x",
						UID: types.UID(fmt.Sprintf("22222222-0000-4000-8000-%012d", i)), Annotations: map[string]string{"x": big}},
						InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team-x", Name: fmt.Sprintf("p-%d", i),
							UID: types.UID(fmt.Sprintf("33333333-0000-4000-8000-%012d", i)), FieldPath: "spec.containers{app}"},
						Reason: "Failed", Message: readOnlyText + big, Count: 1,
						Source: corev1.EventSource{Component: "kubelet", Host: "node-elsewhere"}}
					events = append(events, ev)
				}
				e.c.api.AddEvents(events...)
			},
			absent: []string{`namespace="team-x"`},
		},
	} {
		t.Run(sc.name, func(t *testing.T) { runHostile(t, sc) })
	}
}

func ptr[T any](v T) *T { return &v }

func runHostile(t *testing.T, sc hostileScenario) {
	node := synthetic.Generate(30, 1)
	if sc.node != nil {
		sc.node(node)
	}
	e := &hostileEnv{node: node, c: newCluster(t, node)}
	if sc.prepare != nil {
		sc.prepare(t, e)
	}
	// Each scenario asserts peak RSS, which is of the binary users run, not a -race one. The
	// scenarios feed Events to the agent: it watches them only with --events.cluster-watch (the
	// events role's own input handling is tested in detect/).
	flags := append(append(e.c.flags, "--events.cluster-watch"), sc.flags...)
	e.p = startBinary(t, plainBinary, []string{"NODE_NAME=" + synthetic.NodeName}, flags...)
	require.Eventually(t, func() bool { code, _ := e.p.get("/readyz"); return code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)
	if sc.attack != nil {
		sc.attack(t, e)
	}
	checkSurvived(t, e, sc)
}

func podEvent(pod *corev1.Pod, name, reason, message string, count int32) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pod.Namespace, UID: types.UID("ev-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Reason:         reason, Message: message, Count: count, Type: corev1.EventTypeWarning,
		Source: corev1.EventSource{Component: "kubelet", Host: synthetic.NodeName}}
}

// checkSurvived sends two genuine events, one on each counted watch, after the attack: once both
// are counted, everything sent before them has been handled (each watch delivers in order).
func checkSurvived(t *testing.T, e *hostileEnv, sc hostileScenario) {
	t.Helper()
	evictedPod, failedPod := e.node.Pods[10], e.node.Pods[11]
	marker := podEvent(failedPod, "genuine-failed", "Failed", readOnlyText, 1)
	marker.InvolvedObject.FieldPath = "spec.containers{" + failedPod.Spec.Containers[0].Name + "}"
	e.c.api.AddEvents(podEvent(evictedPod, "genuine-evicted", "Evicted", "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ", 1), marker)
	want := map[string]float64{evictionsTotal: 1 + sc.want[evictionsTotal], readOnlyTotal: 1 + sc.want[readOnlyTotal]}

	var metrics string
	require.Eventually(t, func() bool {
		var code int
		code, metrics = e.p.get("/metrics")
		if code != http.StatusOK {
			return false
		}
		totals, err := counterTotals(metrics)
		return err == nil && totals[evictionsTotal] >= want[evictionsTotal] && totals[readOnlyTotal] >= want[readOnlyTotal]
	}, 60*time.Second, 200*time.Millisecond, "the genuine events are counted, in a /metrics that parses")
	// Reached: now it must stay there, no later over-count (a forged or repeated event delivered late).
	assert.Never(t, func() bool {
		_, metrics := e.p.get("/metrics")
		totals, err := counterTotals(metrics)
		return err == nil && (totals[evictionsTotal] > want[evictionsTotal] || totals[readOnlyTotal] > want[readOnlyTotal])
	}, time.Second, 100*time.Millisecond, "no over-count after the genuine events were counted")
	_, metrics = e.p.get("/metrics")
	totals, err := counterTotals(metrics)
	require.NoError(t, err, "expfmt")
	assert.Equal(t, want[evictionsTotal], totals[evictionsTotal], "evictions: the genuine one and the scenario's, nothing forged")
	assert.Equal(t, want[readOnlyTotal], totals[readOnlyTotal], "read-only failures: the genuine one and the scenario's, nothing forged")
	present := append([]string{`cause="pod_limit",container="",namespace="` + evictedPod.Namespace + `"`}, sc.present...)
	for _, s := range present {
		if !strings.Contains(metrics, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	for _, s := range sc.absent {
		if i := strings.Index(metrics, s); i >= 0 {
			t.Errorf("/metrics has %q: %q", s, metrics[max(i-200, 0):min(i+200, len(metrics))])
		}
	}
	assert.Greater(t, e.c.api.Protobuf.Load(), int64(0), "the fake API server answered in protobuf")

	// Alive, not a zombie, never panicked.
	assert.NotContains(t, procStatusField(t, e.p.cmd.Process.Pid, "State"), "Z")
	assert.NotContains(t, e.p.logs(), "panic")
	code, _ := e.p.get("/healthz")
	assert.Equal(t, http.StatusOK, code)

	assertExpositionParses(t, metrics)

	if sc.check != nil {
		sc.check(t, e, metrics)
	}

	hwm := procStatusBytes(t, e.p.cmd.Process.Pid, "VmHWM")
	limit := chartMemoryLimit(t)
	t.Logf("peak RSS %.1f MiB (chart limit %.0f MiB)", float64(hwm)/(1<<20), float64(limit)/(1<<20))
	assert.Less(t, hwm, limit, "peak RSS under the chart's memory limit")
}

// assertExpositionParses: the exposition parses with expfmt (as Prometheus's client libraries
// do) and passes `promtool check metrics`, the hostile suites' common bar after every scenario.
func assertExpositionParses(t *testing.T, metrics string) {
	t.Helper()
	parser := expfmt.NewTextParser(promodel.UTF8Validation)
	_, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	require.NoError(t, err, "/metrics parses with expfmt")
	promtool := exec.Command("promtool", "check", "metrics")
	promtool.Stdin = strings.NewReader(metrics)
	out, err := promtool.CombinedOutput()
	require.NoError(t, err, "promtool check metrics (hack/install-prometheus.sh installs it):\n%s", out)
}

// counterTotals parses an exposition with expfmt and sums each counter family over its series.
func counterTotals(metrics string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(promodel.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		return nil, err
	}
	totals := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			totals[name] += m.GetCounter().GetValue()
		}
	}
	return totals, nil
}

func procStatusField(t *testing.T, pid int, field string) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// chartMemoryLimit reads resources.limits.memory from the chart's values.yaml.
func chartMemoryLimit(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "helm", "ephemeral-storage-exporter", "values.yaml"))
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	inResources, inLimits := false, false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "resources:"):
			inResources = true
		case inResources && line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "#"):
			inResources = false
		case inResources && strings.TrimSpace(line) == "limits:":
			inLimits = true
		case inResources && inLimits:
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "memory:"); ok {
				q, err := resource.ParseQuantity(strings.TrimSpace(v))
				require.NoError(t, err)
				return q.Value()
			}
		}
	}
	t.Fatal("no resources.limits.memory in the chart's values.yaml")
	return 0
}
