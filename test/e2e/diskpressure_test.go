//go:build linux

package e2e

// TestDiskPressure: node pressure on a real kubelet whose root dir (nodefs) and containerd root
// (a dedicated imagefs) are ext4 images of their own (hack/e2e/up.sh with E2E_LOOP_NODEFS=1 and
// E2E_LOOP_IMAGEFS=1, the second cluster run of hack/e2e/run.sh). The agent is the product
// installed the second way users install it: `kubectl apply -k` on top of the apiserver-proxy
// overlay (kustomize_test.go), so it reads the kubelet through the API server's node proxy, and the
// test reads it at its pod IP. The test fills nodefs past nodefs.available with a file of its own,
// and checks the agent against what the kubelet did.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

const (
	pressureNS = "e2e-pressure"
	// The kubelet's messages (pkg/kubelet/eviction/helpers.go nodeLowMessageFmt,
	// thresholdMetMessageFmt, nodeConditionMessageFmt; kubelet.go rejectPod; v1.34.2).
	nodeLowPrefix     = "The node was low on resource: ephemeral-storage. "
	admissionEvent    = "The node had condition: [DiskPressure]. "
	admissionStatus   = "Pod was rejected: " + admissionEvent
	rankSeries        = "ephemeral_storage_pod_eviction_rank"
	nodefsSignal      = "nodefs.available"
	ballastBeyondHog  = 8 << 20 // the ballast leaves available this far below threshold - hog
	diskPressureLimit = 2 * time.Minute
)

// pressurePod is a pod of the scenario and what it writes to its disk emptyDir "data".
type pressurePod struct {
	name  string
	bytes int64
	pod   *corev1.Pod
}

// pressurePods: hog writes most; small writes less but has a higher priority; mixed has a sidecar
// (restartable init container), limits, a sizeLimit and a memory emptyDir; requested stays below
// its request. rankDiskPressureFunc (helpers.go, v1.34.2) orders them: over request first, then
// lower priority, then usage above request; with a dedicated imagefs, nodefs usage is logs and
// local volumes.
func pressurePods(e env) []pressurePod {
	mk := func(name string, bytes int64, c corev1.Container, extra func(*corev1.Pod)) pressurePod {
		c.Name, c.Image, c.ImagePullPolicy = "main", e.Image, corev1.PullNever
		c.Args = []string{"--fill", "/data/fill", "--rate", "64MiB/s", "--max", strconv.FormatInt(bytes, 10) + "B"}
		c.SecurityContext = secCtx(true)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
		no := false
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pressureNS},
			Spec: corev1.PodSpec{
				NodeName: e.Node, HostNetwork: true, RestartPolicy: corev1.RestartPolicyNever,
				AutomountServiceAccountToken: &no, TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers: []corev1.Container{c},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			},
		}
		if extra != nil {
			extra(p)
		}
		return pressurePod{name: name, bytes: bytes, pod: p}
	}
	storage := func(request, limit string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
		if request != "" {
			r.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse(request)
		}
		if limit != "" {
			r.Limits[corev1.ResourceEphemeralStorage] = resource.MustParse(limit)
		}
		return r
	}
	return []pressurePod{
		mk("hog", 40<<20, corev1.Container{}, nil),
		mk("small", 10<<20, corev1.Container{}, func(p *corev1.Pod) { p.Spec.PriorityClassName = "e2e-high" }),
		mk("mixed", 3<<20, corev1.Container{Resources: storage("1Mi", "50Mi"),
			VolumeMounts: []corev1.VolumeMount{{Name: "mem", MountPath: "/mem"}}}, func(p *corev1.Pod) {
			always := corev1.ContainerRestartPolicyAlways
			p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: e.Image, ImagePullPolicy: corev1.PullNever,
				RestartPolicy: &always, SecurityContext: secCtx(true), Resources: storage("1Mi", "64Mi")}}
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("64Mi")
			size, memSize := resource.MustParse("30Mi"), resource.MustParse("8Mi")
			p.Spec.Volumes[0].EmptyDir.SizeLimit = &size
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &memSize}}})
		}),
		mk("requested", 5<<20, corev1.Container{Resources: storage("100Mi", "")}, nil),
	}
}

func TestDiskPressure(t *testing.T) {
	e := loadEnv(t)
	if os.Getenv("E2E_LOOP_NODEFS") == "" || os.Getenv("E2E_LOOP_IMAGEFS") == "" {
		t.Skip("needs the cluster with loop-mounted nodefs and imagefs (hack/e2e/run.sh's second run)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	adminToken := adminBearer(t, e)
	timing := newTimings(t, e)
	rec := &recorder{e: e, cs: cs, hc: hc, token: adminToken}

	ensureNamespace(ctx, t, cs, pressureNS)
	if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-high"}, Value: 1000}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The scenario's pods first: they start while the agent is installed.
	pods := pressurePods(e)
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(pressureNS).Create(ctx, p.pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.name, err)
		}
	}
	// The product, installed with kubectl apply -k (apiserver-proxy overlay); the DaemonSet
	// controller and the scheduler place it. Documented knobs only: images: and args patches (a 1 s
	// interval for speed, this kubelet's evictionHard, JSON logs).
	installedAt := time.Now()
	agent := kustomizeInstall(ctx, t, e, cs, map[string]string{
		"kubelet.min-interval": "1s", "eviction.hard": e.EvictionHard, "log.format": "json"})
	agentURL := agent.URL
	checkProbes(t, hc, agent)
	t.Cleanup(func() { _, _ = saveAgentLog(context.Background(), cs, e, agent.Pod) })
	timing("agent installed (kubectl apply -k, apiserver-proxy overlay) and ready: " + agentURL)
	t.Run("apiserver-proxy", func(t *testing.T) { checkReadsThroughAPIServer(t, e, installedAt) })

	// Every pod running and its data written, as the kubelet's summary shows it (volume stats
	// are refreshed every volumeStatsAggPeriod, 10s here), and as the agent last read it (it reads
	// the summary every second: its ranks below must come from the same data, not from a read
	// a moment before a pod's volume stats were refreshed, seen once: small ranked before mixed).
	eventually(t, 90*time.Second, time.Second, "every pod's data in the kubelet's summary and in the agent's series", func() (bool, string) {
		s, err := kubeletSummary(hc, e, adminToken)
		if err != nil {
			return false, err.Error()
		}
		m := scrape(t, hc, agentURL)
		for _, p := range pods {
			used, _ := pressureVolumeUsed(s, p.name, "data")
			if used < uint64(p.bytes) {
				return false, fmt.Sprintf("%s: data %d of %d bytes", p.name, used, p.bytes)
			}
			if v, ok := value(m, "ephemeral_storage_volume_used_bytes", map[string]string{"namespace": pressureNS, "pod": p.name, "volume": "data"}); !ok || v < float64(p.bytes) {
				return false, fmt.Sprintf("%s: the agent's data volume %v bytes (found %v) of %d", p.name, v, ok, p.bytes)
			}
		}
		return true, ""
	})
	timing("pods running, data written")

	// (b) A dedicated imagefs: the kubelet's summary and the agent agree on the filesystems and on
	// what counts against container limits (logs only: the writable layer lives on imagefs).
	t.Run("dedicated-imagefs", func(t *testing.T) { checkDedicatedImageFs(t, e, hc, adminToken, agentURL) })
	rec.save(ctx, t, "running")
	timing("imagefs checked; recorded the running node")

	// The agent's order before the pressure: the pods do not change any more. The agent's own pod
	// is on the node too and the kubelet ranks it like any other ("agent" below).
	ranks := scrapeRanks(t, hc, agentURL, agent.Pod.Name)
	t.Logf("the agent's %s ranks: %v", nodefsSignal, ranks)
	// rankDiskPressureFunc with a dedicated imagefs (nodefs usage = logs + disk emptyDirs; the
	// agent's projected token volume does not count): hog, mixed and small use more than they
	// request; of these small has the higher priority, hog uses more than mixed. The agent (its
	// logs, far below its 16Mi request) and requested (5 MiB of its 100Mi) do not; among those two,
	// equal priority (the base sets no priorityClassName), usage minus request orders them:
	// the agent's -16Mi before requested's -95Mi. So the agent would be the fourth pod evicted.
	if want := map[string]int{"hog": 1, "mixed": 2, "small": 3, "agent": 4, "requested": 5}; !maps.Equal(ranks, want) {
		t.Errorf("the agent's %s ranks %v, want %v", nodefsSignal, ranks, want)
	}
	metrics := scrape(t, hc, agentURL)
	threshold := mustValue(t, metrics, "ephemeral_storage_node_eviction_threshold_bytes", map[string]string{"signal": nodefsSignal})

	// (a) Fill nodefs with a file of the test's own, past the threshold by more than hog holds, so
	// the node stays under DiskPressure after the first eviction.
	s, err := kubeletSummary(hc, e, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	available := int64(*s.Node.Fs.AvailableBytes)
	hog := pods[0]
	ballast := available - int64(threshold) + hog.bytes + ballastBeyondHog
	ballastPath := filepath.Join(e.WorkDir, "kubelet", "e2e-ballast")
	fallocate(t, ballastPath, ballast)
	t.Cleanup(func() { _ = os.Remove(ballastPath) })
	timing(fmt.Sprintf("ballast of %d bytes on nodefs (available was %d, threshold %v)", ballast, available, threshold))

	var evicted []*corev1.Pod
	eventually(t, diskPressureLimit, time.Second, "the kubelet to evict a pod under DiskPressure", func() (bool, string) {
		evicted = evictedPods(ctx, cs, pods, agent.Pod)
		return len(evicted) > 0, "no eviction yet"
	})
	timing("first eviction: " + evicted[0].Name)
	// The kubelet evicts in its 10 s eviction loop but posts the node's conditions on its own
	// status cadence, so the condition may follow the first eviction by a few seconds.
	eventually(t, 30*time.Second, time.Second, "the node's DiskPressure condition after an eviction", func() (bool, string) {
		node, err := cs.CoreV1().Nodes().Get(ctx, e.Node, metav1.GetOptions{})
		return err == nil && hasCondition(node, corev1.NodeDiskPressure), fmt.Sprintf("no DiskPressure condition on %s (%v)", e.Node, err)
	})

	// A pod created under DiskPressure is rejected at admission.
	late := pressurePods(e)[0].pod
	late.Name, late.Spec.Containers[0].Args = "late", nil
	if _, err := cs.CoreV1().Pods(pressureNS).Create(ctx, late, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var rejected *corev1.Pod
	var rejectedEvent *corev1.Event
	eventually(t, 60*time.Second, time.Second, "the kubelet to reject the pod late and say so in an Event", func() (bool, string) {
		p, err := cs.CoreV1().Pods(pressureNS).Get(ctx, "late", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		rejected = p
		rejectedEvent = podEvent(ctx, cs, p, "Evicted")
		return p.Status.Phase == corev1.PodFailed && rejectedEvent != nil, fmt.Sprintf("phase %s, event %v", p.Status.Phase, rejectedEvent != nil)
	})
	timing("pod late rejected")
	rec.save(ctx, t, "diskpressure")
	if err := os.Remove(ballastPath); err != nil {
		t.Error(err)
	}
	timing("recorded the node under DiskPressure; ballast removed")

	t.Run("kubelet-evicts-the-agents-first", func(t *testing.T) {
		evicted = evictedPods(ctx, cs, pods, agent.Pod)
		var order []string
		for _, p := range evicted {
			order = append(order, rankKey(p, agent.Pod.Name))
		}
		t.Logf("evicted in this order: %v", order)
		first := evicted[0]
		if ranks[order[0]] != 1 {
			t.Errorf("the kubelet evicted %s first; the agent ranked it %d (ranks %v)", order[0], ranks[order[0]], ranks)
		}
		// Every later eviction went to a pod ranked no earlier than the one before.
		for i := 1; i < len(order); i++ {
			if ranks[order[i]] < ranks[order[i-1]] {
				t.Errorf("eviction %d was %s (rank %d) after %s (rank %d)", i+1, order[i], ranks[order[i]], order[i-1], ranks[order[i-1]])
			}
		}
		if slices.Contains(order, "agent") {
			// Truthful, but it ends what the agent can say below: its counters were in that pod.
			t.Fatalf("the kubelet evicted the agent's own pod (rank %d) while the node stayed under pressure; evictions %v", ranks["agent"], order)
		}
		msg := first.Status.Message
		t.Logf("%s: reason %s, message %q", first.Name, first.Status.Reason, msg)
		if first.Status.Reason != "Evicted" || !strings.HasPrefix(msg, nodeLowPrefix) {
			t.Fatalf("want a node-pressure eviction of ephemeral-storage, got %s: %q", first.Status.Reason, msg)
		}
		// The threshold the kubelet names is the one the agent exports for nodefs.available.
		m := regexp.MustCompile(`Threshold quantity: (\S+), available: (\S+)\. `).FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("no threshold in %q", msg)
		}
		q := resource.MustParse(m[1])
		if float64(q.Value()) != threshold {
			t.Errorf("kubelet threshold %s = %d bytes, the agent exports %v", m[1], q.Value(), threshold)
		}
		if a := resource.MustParse(m[2]); a.Cmp(q) >= 0 {
			t.Errorf("available %s is not below the threshold %s", m[2], m[1])
		}
	})

	t.Run("classified-node-pressure", func(t *testing.T) {
		first := evicted[0]
		// The container is the offender the message names (its logs: nodefs usage with a dedicated imagefs).
		want := map[string]string{"workload": first.Name, "cause": "node_pressure", "resource": "ephemeral-storage", "volume": "", "container": "main"}
		waitCounter(t, hc, agentURL, first.Name, want)
		if v := mustValue(t, scrape(t, hc, agentURL), "ephemeral_storage_node_disk_pressure", nil); v != 1 {
			t.Errorf("ephemeral_storage_node_disk_pressure = %v under DiskPressure, want 1", v)
		}
	})

	t.Run("admission-rejection", func(t *testing.T) {
		// The same condition in two forms: the Event as is, the status behind "Pod was rejected: ".
		if rejected.Status.Reason != "Evicted" || rejected.Status.Message != admissionStatus {
			t.Errorf("late: status %s %q, want Evicted %q", rejected.Status.Reason, rejected.Status.Message, admissionStatus)
		}
		if rejectedEvent.Message != admissionEvent {
			t.Errorf("late: Event %q, want %q", rejectedEvent.Message, admissionEvent)
		}
		waitCounter(t, hc, agentURL, "late", map[string]string{"workload": "late", "cause": "admission", "resource": "", "volume": "", "container": ""})
		// Which form the agent saw first is in its log (read through the API server); both
		// classify alike (detect/recorded_test.go classifies the two recorded messages).
		if _, err := saveAgentLog(ctx, cs, e, agent.Pod); err != nil {
			t.Errorf("the agent's log: %v", err)
		}
		t.Logf("agent log: %s", agentLogLine(t, e, `"pod":"late"`))
	})
	timing("done")
}

// checkDedicatedImageFs: nodefs and imagefs are the two loop filesystems in the kubelet's summary
// and in the agent's series; each container's usage is its logs (the kubelet does not count the
// writable layer against limits on a dedicated imagefs: containerEphemeralStorageLimitEviction,
// eviction_manager.go v1.34.2), its rootfs series the summary's.
func checkDedicatedImageFs(t *testing.T, e env, hc *http.Client, token, agentURL string) {
	var last string
	eventually(t, 30*time.Second, time.Second, "the agent's filesystems and container usage equal to the kubelet's summary", func() (bool, string) {
		s, err := kubeletSummary(hc, e, token)
		if err != nil {
			return false, err.Error()
		}
		m := scrape(t, hc, agentURL)
		var diffs []string
		check := func(what string, got float64, found bool, want uint64) {
			if !found || got != float64(want) {
				diffs = append(diffs, fmt.Sprintf("%s: agent %v (found %v), kubelet %d", what, got, found, want))
			}
		}
		if s.Node.Runtime == nil || s.Node.Runtime.ImageFs == nil || s.Node.Fs == nil {
			return false, "summary without node fs or imageFs"
		}
		if *s.Node.Fs.CapacityBytes == *s.Node.Runtime.ImageFs.CapacityBytes {
			diffs = append(diffs, "nodefs and imagefs have the same capacity: not the two loop filesystems")
		}
		for fs, stats := range map[string]*statsv1alpha1.FsStats{"nodefs": s.Node.Fs, "imagefs": s.Node.Runtime.ImageFs} {
			v, ok := value(m, "ephemeral_storage_node_fs_capacity_bytes", map[string]string{"fs": fs})
			check(fs+" capacity", v, ok, *stats.CapacityBytes)
		}
		v, ok := value(m, "ephemeral_storage_node_imagefs_dedicated", nil)
		check("imagefs_dedicated", v, ok, 1)
		for _, p := range s.Pods {
			if p.PodRef.Namespace != pressureNS {
				continue
			}
			for _, c := range p.Containers {
				if c.Logs == nil || c.Logs.UsedBytes == nil || c.Rootfs == nil || c.Rootfs.UsedBytes == nil {
					diffs = append(diffs, p.PodRef.Name+"/"+c.Name+": no logs or rootfs in the summary")
					continue
				}
				sel := map[string]string{"namespace": pressureNS, "pod": p.PodRef.Name, "container": c.Name}
				v, ok := value(m, "ephemeral_storage_container_usage_bytes", sel)
				check(p.PodRef.Name+"/"+c.Name+" usage = logs", v, ok, *c.Logs.UsedBytes)
				v, ok = value(m, "ephemeral_storage_container_rootfs_bytes", sel)
				check(p.PodRef.Name+"/"+c.Name+" rootfs", v, ok, *c.Rootfs.UsedBytes)
			}
		}
		last = strings.Join(diffs, "; ")
		return len(diffs) == 0, last
	})
	t.Logf("nodefs and imagefs are distinct loop filesystems; the agent's capacities, imagefs_dedicated=1 and container usage equal the kubelet's")
}

func pressureVolumeUsed(s *statsv1alpha1.Summary, pod, volume string) (uint64, bool) {
	for _, p := range s.Pods {
		if p.PodRef.Namespace != pressureNS || p.PodRef.Name != pod {
			continue
		}
		for _, v := range p.VolumeStats {
			if v.Name == volume && v.UsedBytes != nil {
				return *v.UsedBytes, true
			}
		}
	}
	return 0, false
}

func fallocate(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("fallocate %s %d: %v", path, size, err)
	}
}

// evictedPods are the scenario's pods and the agent's the kubelet evicted, in the order of their
// DisruptionTarget condition (set when the eviction manager picks the pod), then by name.
func evictedPods(ctx context.Context, client *kubernetes.Clientset, pods []pressurePod, agent *corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	keys := [][2]string{{agent.Namespace, agent.Name}}
	for _, p := range pods {
		keys = append(keys, [2]string{pressureNS, p.name})
	}
	for _, k := range keys {
		got, err := client.CoreV1().Pods(k[0]).Get(ctx, k[1], metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodFailed && got.Status.Reason == "Evicted" {
			out = append(out, got)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return evictedAt(out[i]).Before(evictedAt(out[j])) })
	return out
}

func evictedAt(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func hasCondition(n *corev1.Node, typ corev1.NodeConditionType) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func podEvent(ctx context.Context, cs *kubernetes.Clientset, p *corev1.Pod, reason string) *corev1.Event {
	list, err := cs.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for i := range list.Items {
		ev := &list.Items[i]
		if ev.InvolvedObject.UID == p.UID && ev.Reason == reason {
			return ev
		}
	}
	return nil
}

// Helpers reading the agent's /metrics (text exposition) without a Prometheus.

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrape(t *testing.T, hc *http.Client, agentURL string) []sample {
	t.Helper()
	code, body, err := get(hc, agentURL+"/metrics", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("agent /metrics: %d %v", code, err)
	}
	return parseExposition(body)
}

// parseExposition reads the samples of a text exposition (comments and unparsable values skipped).
func parseExposition(body []byte) []sample {
	var out []sample
	for _, line := range strings.Split(string(body), "\n") {
		m := seriesLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		out = append(out, sample{name: m[1], labels: labels, value: v})
	}
	return out
}

// value is the one series of name whose labels include sel; found is false when there is none.
func value(samples []sample, name string, sel map[string]string) (v float64, found bool) {
	for _, s := range samples {
		if s.name == name && matches(s.labels, sel) {
			return s.value, true
		}
	}
	return 0, false
}

func matches(labels, sel map[string]string) bool {
	for k, want := range sel {
		if labels[k] != want {
			return false
		}
	}
	return true
}

func mustValue(t *testing.T, samples []sample, name string, sel map[string]string) float64 {
	t.Helper()
	v, ok := value(samples, name, sel)
	if !ok {
		t.Fatalf("no series %s%v", name, sel)
	}
	return v
}

// scrapeRanks is the agent's nodefs.available rank of each scenario pod, and of the agent's own
// pod (agentPod) as "agent".
func scrapeRanks(t *testing.T, hc *http.Client, agentURL, agentPod string) map[string]int {
	ranks := map[string]int{}
	for _, s := range scrape(t, hc, agentURL) {
		if s.name != rankSeries || s.labels["signal"] != nodefsSignal {
			continue
		}
		switch {
		case s.labels["namespace"] == pressureNS:
			ranks[s.labels["pod"]] = int(s.value)
		case s.labels["namespace"] == agentNamespace && s.labels["pod"] == agentPod:
			ranks["agent"] = int(s.value)
		}
	}
	return ranks
}

// rankKey is the key of p in scrapeRanks' map.
func rankKey(p *corev1.Pod, agentPod string) string {
	if p.Namespace == agentNamespace && p.Name == agentPod {
		return "agent"
	}
	return p.Name
}

// waitCounter waits for the agent's eviction count of workload, then asserts exactly one series
// with exactly the wanted labels and the value 1.
func waitCounter(t *testing.T, hc *http.Client, agentURL, workload string, want map[string]string) {
	t.Helper()
	var got []sample
	eventually(t, 30*time.Second, time.Second, "ephemeral_storage_evictions_total for "+workload, func() (bool, string) {
		got = nil
		for _, s := range scrape(t, hc, agentURL) {
			if s.name == "ephemeral_storage_evictions_total" && s.labels["namespace"] == pressureNS && s.labels["workload"] == workload {
				got = append(got, s)
			}
		}
		return len(got) > 0, "no series"
	})
	if len(got) != 1 || got[0].value != 1 || !matches(got[0].labels, want) {
		t.Errorf("%s: want one eviction counted with %v, got %+v", workload, want, got)
		return
	}
	t.Logf("%s: counted once, %v", workload, got[0].labels)
}

// agentLogLine is the agent's "pod evicted" log line containing substr.
func agentLogLine(t *testing.T, e env, substr string) string {
	raw, err := os.ReadFile(filepath.Join(e.Artifacts, "logs", "agent.log"))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, `"pod evicted"`) && strings.Contains(line, substr) {
			return line
		}
	}
	return "(none)"
}

// recorder saves what the kubelet and the API server said at one moment: the kubelet's
// /stats/summary, the node's pods and the Node, as served (E2E_RECORD_DIR, else the artifacts).
// `E2E_RECORD=1 make e2e` writes them to testdata/kubelet/e2e-v1.34 (hack/e2e/run.sh).
type recorder struct {
	e     env
	cs    *kubernetes.Clientset
	hc    *http.Client
	token string
}

func (r *recorder) save(ctx context.Context, t *testing.T, moment string) {
	t.Helper()
	dir := os.Getenv("E2E_RECORD_DIR")
	if dir == "" {
		dir = filepath.Join(r.e.Artifacts, "recordings")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	code, summary, err := get(r.hc, r.e.KubeletURL+"/stats/summary", r.token)
	if err != nil || code != http.StatusOK {
		t.Fatalf("kubelet /stats/summary: %d %v", code, err)
	}
	files := map[string][]byte{"stats-summary.json": summary}
	for name, path := range map[string]string{
		"pods.json":   "/api/v1/pods?fieldSelector=spec.nodeName%3D" + r.e.Node,
		"node.json":   "/api/v1/nodes/" + r.e.Node,
		"events.json": "/api/v1/namespaces/" + pressureNS + "/events",
	} {
		req := r.cs.CoreV1().RESTClient().Get().AbsPath(strings.Split(path, "?")[0])
		if sel := fieldSelector(path); sel != "" {
			req = req.Param("fieldSelector", sel)
		}
		raw, err := req.DoRaw(ctx)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		files[name] = raw
	}
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join(dir, moment+"-"+name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded %s into %s", moment, dir)
}

func fieldSelector(path string) string {
	_, q, _ := strings.Cut(path, "?fieldSelector=")
	return strings.ReplaceAll(q, "%3D", "=")
}
