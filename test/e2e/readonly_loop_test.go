package e2e

// The read-only loop (issue 20): a Deployment whose container writes to an unmounted directory of
// its read-only root fails; the agent counts it once and posts a ReadOnlyWriteFailed Event on the
// pod naming the path; `advise --from-events -o patch` writes the strategic-merge patch; the suite
// applies it to the Deployment; the pod of the patched template runs without read-only failures.
//
// No controller-manager runs, so the suite plays the Deployment and ReplicaSet controllers: it
// creates the ReplicaSet "<deployment>-<hash>" and its pod from the Deployment's template (owner
// references and pod-template-hash label as the controllers set them, so the agent names the
// workload Deployment/rofix), and after the patch a new ReplicaSet and pod from the patched
// template, deleting the old pod. One deviation: the pods it creates have restartPolicy Never (a
// Deployment's template must say Always), so one failure is one termination, not a crash loop.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

const (
	roFixName = "rofix"         // the Deployment
	roFixPath = "/tmp/cache.db" // what its container writes; /tmp exists in the image, on the read-only root
	roFixDir  = "/tmp"          // where the patch must mount a writable volume
	hintEvent = "ReadOnlyWriteFailed"
)

// readOnlyDeployment creates the Deployment rofix and, playing its controllers, its first pod.
func (sc *scenario) readOnlyDeployment(t *testing.T) *corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": roFixName}
	no := false
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: roFixName, Namespace: scenarioNS},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName: sc.e.Node, HostNetwork: true, AutomountServiceAccountToken: &no,
					TerminationGracePeriodSeconds: ptr(int64(2)),
					Containers: []corev1.Container{{
						Name: "main", Image: sc.e.Image, ImagePullPolicy: corev1.PullNever,
						Args:                     []string{"--write-root", roFixPath, "--erofs-exit", "1"},
						SecurityContext:          secCtx(true),
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
				},
			},
		},
	}
	d, err := sc.cs.AppsV1().Deployments(scenarioNS).Create(sc.ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", roFixName, err)
	}
	return sc.rollOut(t, d)
}

// rollOut does what the Deployment and ReplicaSet controllers would for one replica of d's
// template: a ReplicaSet named after the template's hash, owned by d, and its pod.
func (sc *scenario) rollOut(t *testing.T, d *appsv1.Deployment) *corev1.Pod {
	t.Helper()
	tmpl, _ := json.Marshal(d.Spec.Template)
	h := fnv.New32a()
	h.Write(tmpl)
	hash := fmt.Sprintf("%08x", h.Sum32()) // the controller's ComputeHash differs; only the naming scheme matters here
	labels := map[string]string{"pod-template-hash": hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	yes := true
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes, BlockOwnerDeletion: &yes}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: d.Spec.Template.Spec},
		},
	}
	rs, err := sc.cs.AppsV1().ReplicaSets(d.Namespace).Create(sc.ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create replicaset for %s: %v", d.Name, err)
	}
	spec := *d.Spec.Template.Spec.DeepCopy()
	spec.RestartPolicy = corev1.RestartPolicyNever // see the file's comment
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: rs.Name + "-a", Namespace: d.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes, BlockOwnerDeletion: &yes}},
		},
		Spec: spec,
	}
	p, err = sc.cs.CoreV1().Pods(d.Namespace).Create(sc.ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod of %s: %v", rs.Name, err)
	}
	return p
}

// readOnlyHint waits for the agent's ReadOnlyWriteFailed Event on the pod and returns it; there
// must be exactly one, a Warning, on this pod (name and UID), naming the container and the path.
func (sc *scenario) readOnlyHint(t *testing.T, p *corev1.Pod, container, path string) corev1.Event {
	t.Helper()
	var got []corev1.Event
	eventually(t, 30*time.Second, time.Second, hintEvent+" Event on "+p.Name, func() (bool, string) {
		evs, err := sc.cs.CoreV1().Events(scenarioNS).List(sc.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name + ",reason=" + hintEvent})
		if err != nil {
			return false, err.Error()
		}
		got = evs.Items
		return len(got) > 0, "none yet"
	})
	if len(got) != 1 {
		t.Fatalf("want one %s Event on %s, got %d: %v", hintEvent, p.Name, len(got), got)
	}
	ev := got[0]
	if ev.Type != corev1.EventTypeWarning || ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.UID != p.UID || ev.Count > 1 ||
		!strings.Contains(ev.Message, fmt.Sprintf("%q", container)) || !strings.Contains(ev.Message, fmt.Sprintf("%q", path)) {
		t.Errorf("%s Event on %s: want one Warning on pod UID %s naming container %q and path %q, got type %s object %s/%s uid %s count %d: %q",
			hintEvent, p.Name, p.UID, container, path, ev.Type, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.InvolvedObject.UID, ev.Count, ev.Message)
	}
	return ev
}

// readOnlyFailures returns the agent's read-only failure series of a workload, as Prometheus has them.
func (sc *scenario) readOnlyFailures(t *testing.T, workload string) []promSample {
	t.Helper()
	s, err := promQuery(sc.hc, sc.promURL, fmt.Sprintf(`ephemeral_storage_read_only_write_failures_total{namespace=%q,workload=%q}`, scenarioNS, workload))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkReadOnlyLoop: failure, count, Event, patch, applied, fixed.
func (sc *scenario) checkReadOnlyLoop(t *testing.T) {
	var report strings.Builder
	defer func() {
		_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "readonly-loop.txt"), []byte(report.String()), 0o644)
	}()
	old := sc.roFixPod

	// 1. The pod of the Deployment fails on its read-only root.
	var term *corev1.ContainerStateTerminated
	eventually(t, 60*time.Second, time.Second, old.Name+" terminated", func() (bool, string) {
		p, err := sc.cs.CoreV1().Pods(scenarioNS).Get(sc.ctx, old.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Terminated != nil {
				term = c.State.Terminated
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s %v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	wantMsg := "open " + roFixPath + ": read-only file system"
	fmt.Fprintf(&report, "1. pod %s (Deployment %s): exit %d, termination message %q\n", old.Name, roFixName, term.ExitCode, term.Message)
	if term.ExitCode != 1 || strings.TrimSpace(term.Message) != wantMsg {
		t.Fatalf("%s: want exit 1 with termination message %q, got %d %q", old.Name, wantMsg, term.ExitCode, term.Message)
	}

	// 2. Counted once, attributed to the Deployment, with its cause.
	eventually(t, 60*time.Second, time.Second, "rofix's read-only failure counted", func() (bool, string) {
		s := sc.readOnlyFailures(t, roFixName)
		return len(s) > 0, "no series"
	})
	time.Sleep(3 * time.Second) // the other sources (Event, log) would double it by now
	s := sc.readOnlyFailures(t, roFixName)
	fmt.Fprintf(&report, "2. agent: %v\n", s)
	if len(s) != 1 || s[0].V != 1 || s[0].Labels["workload_kind"] != "Deployment" || s[0].Labels["container"] != "main" || s[0].Labels["source"] != "termination_message" {
		t.Errorf("want one read-only failure of Deployment/%s container=main source=termination_message, got %v", roFixName, s)
	}

	// 3. The hint on the pod, where `kubectl describe pod` shows it.
	ev := sc.readOnlyHint(t, old, "main", roFixPath)
	fmt.Fprintf(&report, "3. Event on pod %s: %s %s (from %s): %s\n   annotations: %v\n", old.Name, ev.Type, ev.Reason, ev.Source.Component, ev.Message, ev.Annotations)
	t.Logf("Event: %s", ev.Message)

	// 4. The patch, from the Events alone (no Prometheus).
	cmd := exec.CommandContext(sc.ctx, sc.e.AgentBin, "advise", "--from-events", "-o", "patch", "--namespace", scenarioNS, "--kubeconfig", sc.e.AdminKubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "readonly-patch.yaml"), out, 0o644)
	if err != nil {
		t.Fatalf("advise --from-events -o patch: %v: %s", err, stderr.String())
	}
	fmt.Fprintf(&report, "4. ephemeral-storage-exporter advise --from-events -o patch --namespace %s:\n%s\n", scenarioNS, out)
	patch := deploymentPatch(t, out, roFixName)
	volume, sizeLimit := checkPatch(t, patch)

	// 5. Applied to the Deployment as kubectl patch --type strategic would; the suite rolls it out.
	body, err := yaml.YAMLToJSON(patch)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sc.cs.AppsV1().Deployments(scenarioNS).Patch(sc.ctx, roFixName, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("apply the patch to Deployment %s: %v", roFixName, err)
	}
	if err := sc.cs.CoreV1().Pods(scenarioNS).Delete(sc.ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	fixed := sc.rollOut(t, d)
	sc.timing("read-only patch applied; new pod " + fixed.Name)

	// 6. The new pod runs: its write landed in the mounted volume, no new failure, no new hint.
	eventually(t, 60*time.Second, time.Second, fixed.Name+" running", func() (bool, string) {
		p, err := sc.cs.CoreV1().Pods(scenarioNS).Get(sc.ctx, fixed.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Terminated != nil {
				t.Fatalf("%s terminated after the patch: exit %d %q", fixed.Name, c.State.Terminated.ExitCode, c.State.Terminated.Message)
			}
			if c.State.Running != nil && c.Ready {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s %v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	// The kubelet's stats of the new volume: its directory and the file the container wrote.
	var inodes uint64
	eventually(t, 45*time.Second, 2*time.Second, "the written file in "+fixed.Name+"'s volume "+volume, func() (bool, string) {
		sum, err := kubeletSummary(sc.hc, sc.e, adminBearer(t, sc.e))
		if err != nil {
			return false, err.Error()
		}
		for _, p := range sum.Pods {
			if p.PodRef.Namespace != scenarioNS || p.PodRef.Name != fixed.Name {
				continue
			}
			for _, v := range p.VolumeStats {
				if v.Name == volume && v.InodesUsed != nil {
					inodes = *v.InodesUsed
					return inodes == 2, fmt.Sprintf("inodesUsed %d", inodes)
				}
			}
		}
		return false, "no stats yet"
	})
	// The agent has seen the new pod (its volume's bound is exported) ...
	q := fmt.Sprintf(`ephemeral_storage_volume_size_limit_bytes{namespace=%q,pod=%q,volume=%q}`, scenarioNS, fixed.Name, volume)
	var lim []promSample
	eventually(t, 30*time.Second, time.Second, q, func() (bool, string) {
		lim, err = promQuery(sc.hc, sc.promURL, q)
		return err == nil && len(lim) == 1, fmt.Sprintf("%v %v", lim, err)
	})
	if lim[0].V != float64(sizeLimit) {
		t.Errorf("%s = %v, want the patch's sizeLimit %d", q, lim[0].V, sizeLimit)
	}
	time.Sleep(3 * time.Second) // ... and would have counted a failure of it by now
	after := sc.readOnlyFailures(t, roFixName)
	if len(after) != 1 || after[0].V != 1 {
		t.Errorf("after the fix: want still exactly one read-only failure of %s (the old pod's), got %v", roFixName, after)
	}
	evs, err := sc.cs.CoreV1().Events(scenarioNS).List(sc.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + fixed.Name + ",reason=" + hintEvent})
	if err != nil || len(evs.Items) != 0 {
		t.Errorf("after the fix: want no %s Event on %s, got %v %v", hintEvent, fixed.Name, evs, err)
	}
	fmt.Fprintf(&report, "5. patch applied to Deployment %s; new pod %s running; volume %s: kubelet inodesUsed %d (its directory and %s), agent size_limit_bytes %v; read-only failures of %s still %v; %s Events on the new pod: 0\n",
		roFixName, fixed.Name, volume, inodes, roFixPath, lim[0].V, roFixName, after[0].V, hintEvent)
	sc.timing("read-only loop closed")
}

// deploymentPatch returns the document of advise's patch output for Deployment name.
func deploymentPatch(t *testing.T, out []byte, name string) []byte {
	t.Helper()
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if yaml.Unmarshal([]byte(doc), &head) == nil && head.Kind == "Deployment" && head.Metadata.Name == name && head.Metadata.Namespace == scenarioNS {
			return []byte(doc)
		}
	}
	t.Fatalf("advise wrote no patch for Deployment %s/%s:\n%s", scenarioNS, name, out)
	return nil
}

// checkPatch: container main gets exactly one mount, at roFixDir, of an emptyDir with a sizeLimit.
func checkPatch(t *testing.T, patch []byte) (volume string, sizeLimit int64) {
	t.Helper()
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(patch, &d); err != nil {
		t.Fatalf("the patch is not a Deployment: %v\n%s", err, patch)
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "main" || len(spec.Containers[0].VolumeMounts) != 1 || spec.Containers[0].VolumeMounts[0].MountPath != roFixDir {
		t.Fatalf("the patch: want container main with one volumeMount at %s, got %+v", roFixDir, spec.Containers)
	}
	volume = spec.Containers[0].VolumeMounts[0].Name
	if len(spec.Volumes) != 1 || spec.Volumes[0].Name != volume || spec.Volumes[0].EmptyDir == nil || spec.Volumes[0].EmptyDir.SizeLimit == nil || spec.Volumes[0].EmptyDir.SizeLimit.Value() <= 0 {
		t.Fatalf("the patch: want one emptyDir volume %q with a sizeLimit, got %+v", volume, spec.Volumes)
	}
	return volume, spec.Volumes[0].EmptyDir.SizeLimit.Value()
}
