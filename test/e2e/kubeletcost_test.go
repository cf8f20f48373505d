package e2e

// The kubelet's side of the agent's cost: the CPU the real kubelet (and containerd, which it asks
// over CRI) spends per /stats/summary request. The kubelet computes the summary on demand
// (pkg/kubelet/server/stats/summary.go, summaryProviderImpl.Get: cadvisor's cached stats, CRI calls,
// the volume stats cached by fsResourceAnalyzer every volumeStatsAggPeriod), so each agent request
// costs the node something; docs/performance.md uses this number to choose the default interval.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

const (
	costNS       = "e2e-kubeletcost"
	costPods     = 10                     // idle pods with an emptyDir each, so the summary has pods, containers and volumes
	costRounds   = 3                      // idle and busy windows alternate, so a drift in the background cost cancels
	costRequests = 50                     // summary requests per busy window
	costSpacing  = 200 * time.Millisecond // between requests: a busy window lasts as long as an idle one
	clockTicks   = 100                    // USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s on every Linux ABI
)

func TestKubeletCPUPerSummaryRequest(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	token := adminBearer(t, e)
	procs := map[string]int{"kubelet": pidOf(t, e, "kubelet"), "containerd": pidOf(t, e, "containerd")}

	ensureNamespace(ctx, t, cs, costNS)
	for i := range costPods {
		if _, err := cs.CoreV1().Pods(costNS).Create(ctx, idlePod(e, fmt.Sprintf("idle-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { deleteCostPods(t, e, hc, token) })
	var body, pods int
	eventually(t, 120*time.Second, time.Second, fmt.Sprintf("%d pods of %s in the kubelet summary", costPods, costNS), func() (bool, string) {
		code, b, err := get(hc, e.KubeletURL+"/stats/summary", token)
		var s statsv1alpha1.Summary
		if err == nil && code == 200 {
			err = json.Unmarshal(b, &s)
		}
		if err != nil || code != 200 {
			return false, fmt.Sprintf("%d %v", code, err)
		}
		body, pods = len(b), len(s.Pods)
		return podsIn(&s, costNS) == costPods, fmt.Sprintf("%d pods of %s", podsIn(&s, costNS), costNS)
	})

	window := costRequests * costSpacing
	idle, busy := map[string]float64{}, map[string]float64{}
	var latencies []time.Duration
	var rounds strings.Builder
	for r := range costRounds {
		before := cpuSeconds(t, procs)
		time.Sleep(window) // the idle window: the kubelet's background work only
		mid := cpuSeconds(t, procs)
		tick := time.NewTicker(costSpacing)
		for range costRequests {
			start := time.Now()
			code, b, err := get(hc, e.KubeletURL+"/stats/summary", token)
			latencies = append(latencies, time.Since(start))
			if err != nil || code != 200 || !strings.Contains(string(b), `"nodeName": "`+e.Node+`"`) {
				t.Fatalf("kubelet /stats/summary: %d %v: %.200s", code, err, b)
			}
			<-tick.C
		}
		tick.Stop()
		after := cpuSeconds(t, procs)
		fmt.Fprintf(&rounds, "round %d:", r+1)
		for _, name := range slices.Sorted(maps.Keys(procs)) {
			idle[name] += mid[name] - before[name]
			busy[name] += after[name] - mid[name]
			fmt.Fprintf(&rounds, " %s idle %.2f s, busy %.2f s;", name, mid[name]-before[name], after[name]-mid[name])
		}
		rounds.WriteString("\n")
	}

	slices.Sort(latencies)
	requests := float64(costRounds * costRequests)
	var out strings.Builder
	fmt.Fprintf(&out, "kubelet CPU per /stats/summary request (%s)\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&out, "node: %d pods in the summary (%d of them idle pods of %s with an emptyDir each), summary %d bytes\n", pods, costPods, costNS, body)
	fmt.Fprintf(&out, "method: %d rounds of an idle window (%s) then %d requests %s apart; CPU = utime+stime of /proc/<pid>/stat (10 ms ticks)\n",
		costRounds, window, costRequests, costSpacing)
	out.WriteString(rounds.String())
	fmt.Fprintf(&out, "request latency (client side): p50 %s, p95 %s, max %s\n",
		latencies[len(latencies)/2].Round(100*time.Microsecond), latencies[len(latencies)*95/100].Round(100*time.Microsecond), latencies[len(latencies)-1].Round(100*time.Microsecond))
	for _, name := range slices.Sorted(maps.Keys(procs)) {
		per := (busy[name] - idle[name]) / requests
		fmt.Fprintf(&out, "%s: idle %.2f s, busy %.2f s over %.0f requests: %.1f ms CPU per request (background %.1f ms/s)\n",
			name, idle[name], busy[name], requests, per*1000, idle[name]/(costRounds*window.Seconds())*1000)
	}
	t.Log("\n" + out.String())
	if err := os.WriteFile(filepath.Join(e.Artifacts, "kubelet-cost.txt"), []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if busy["kubelet"] <= idle["kubelet"] {
		t.Errorf("the kubelet spent no more CPU answering %0.f summary requests (%.2f s) than idle (%.2f s): the measurement did not see the requests", requests, busy["kubelet"], idle["kubelet"])
	}
}

func podsIn(s *statsv1alpha1.Summary, ns string) int {
	n := 0
	for _, p := range s.Pods {
		if p.PodRef.Namespace == ns {
			n++
		}
	}
	return n
}

// pidOf is the pid up.sh recorded for a component, checked against /proc/<pid>/comm.
func pidOf(t *testing.T, e env, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.WorkDir, name+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != name {
		t.Fatalf("pid %d of %s: comm %q, %v", pid, name, comm, err)
	}
	return pid
}

// cpuSeconds is the user+system CPU of each process so far (fields 14 and 15 of /proc/<pid>/stat,
// threads that exited included).
func cpuSeconds(t *testing.T, procs map[string]int) map[string]float64 {
	t.Helper()
	out := make(map[string]float64, len(procs))
	for name, pid := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// The command name (field 2) may hold spaces; the fields after its ")" are fixed.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		utime, err1 := strconv.ParseUint(fields[11], 10, 64)
		stime, err2 := strconv.ParseUint(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/%d/stat: %v %v", pid, err1, err2)
		}
		out[name] = float64(utime+stime) / clockTicks
	}
	return out
}

func idlePod(e env, name string) *corev1.Pod {
	q := resource.MustParse("16Mi")
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: costNS},
		Spec: corev1.PodSpec{
			NodeName: e.Node, HostNetwork: true, RestartPolicy: corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no, TerminationGracePeriodSeconds: ptr(int64(0)),
			Containers: []corev1.Container{{
				Name: "main", Image: e.Image, ImagePullPolicy: corev1.PullNever, SecurityContext: secCtx(true),
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &q}}}},
		},
	}
}

// deleteCostPods removes the test's pods and waits until neither the API server nor the kubelet's
// summary has them, so the scenarios after it see the node as before.
func deleteCostPods(t *testing.T, e env, hc *http.Client, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cs := adminClient(t, e)
	zero := int64(0)
	if err := cs.CoreV1().Pods(costNS).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		t.Errorf("deleting the pods of %s: %v", costNS, err)
		return
	}
	eventually(t, 80*time.Second, time.Second, "the pods of "+costNS+" gone", func() (bool, string) {
		l, err := cs.CoreV1().Pods(costNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d left", len(l.Items))
	})
	eventually(t, 60*time.Second, time.Second, "the pods of "+costNS+" gone from the kubelet summary", func() (bool, string) {
		s, err := kubeletSummary(hc, e, token)
		if err != nil {
			return false, err.Error()
		}
		return podsIn(s, costNS) == 0, fmt.Sprintf("%d left", podsIn(s, costNS))
	})
}
