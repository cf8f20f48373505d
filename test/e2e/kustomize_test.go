package e2e

// The second way users install the product (issue 18): `kubectl apply -k` of a kustomization that
// builds on deploy/kustomize/overlays/apiserver-proxy (itself on deploy/kustomize/base), changed
// only the ways docs/deploy.md names: `images:` (the image up.sh built and imported) and patches
// (three of the DaemonSet's args). kubectl is built from the pinned k8s.io/kubernetes module
// (hack/e2e/build-k8s.sh), so its kustomize is the one kubectl v1.34.2 embeds.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

const (
	kustomizeOverlay = "deploy/kustomize/overlays/apiserver-proxy"
	// baseImage is the image deploy/kustomize/base names; the kustomization's images: replaces it.
	baseImage = "ghcr.io/ephemeral-storage-exporter/ephemeral-storage-exporter"
	// agentUser is the agent's ServiceAccount as the API server sees it (base and chart alike).
	agentUser = "system:serviceaccount:" + agentNamespace + ":ephemeral-storage-exporter"
)

// kubectl runs the suite's kubectl with the admin kubeconfig (its cache in the work dir).
func kubectl(ctx context.Context, e env, args ...string) ([]byte, error) {
	args = append([]string{"--kubeconfig", e.AdminKubeconfig, "--cache-dir", filepath.Join(e.WorkDir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, e.KubectlBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(e.WorkDir, "kubectl-home"))
	return cmd.CombinedOutput()
}

// kustomization is the kustomization.yaml a user writes on top of the overlay: the image and
// the args given as flag=value replace the overlay's. Each replaced arg is found by its flag in
// the overlay as kubectl renders it, and guarded by a JSON-patch "test" of its current value, so
// a changed base fails the apply with kustomize's own error instead of patching the wrong arg.
func kustomization(ctx context.Context, t *testing.T, e env, dir string, args map[string]string) []byte {
	t.Helper()
	overlay := filepath.Join(e.Root, kustomizeOverlay)
	rendered, err := kubectl(ctx, e, "kustomize", overlay)
	if err != nil {
		installFailed(t, e, fmt.Sprintf("kubectl kustomize %s: %v\n%s", overlay, err, rendered))
	}
	ds := renderedDaemonSet(t, rendered)
	var current []string
	for _, c := range ds.Spec.Template.Spec.Containers {
		if c.Name == agentContainer {
			current = c.Args
		}
	}
	if len(current) == 0 {
		t.Fatalf("%s renders no args for container %s", kustomizeOverlay, agentContainer)
	}
	var ops []map[string]any
	for _, flag := range sortedKeys(args) {
		i := argIndex(current, flag)
		if i < 0 {
			t.Fatalf("%s renders no --%s= arg (args %v)", kustomizeOverlay, flag, current)
		}
		path := fmt.Sprintf("/spec/template/spec/containers/0/args/%d", i)
		ops = append(ops,
			map[string]any{"op": "test", "path": path, "value": current[i]},
			map[string]any{"op": "replace", "path": path, "value": "--" + flag + "=" + args[flag]})
	}
	patch, err := yaml.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, overlay)
	if err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(e.AgentImage, ":")
	k := map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  []string{rel},
		"images":     []map[string]string{{"name": baseImage, "newName": repo, "newTag": tag}},
		"patches": []map[string]any{{
			"target": map[string]string{"kind": "DaemonSet", "name": "ephemeral-storage-exporter"},
			"patch":  string(patch),
		}},
	}
	out, err := yaml.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func renderedDaemonSet(t *testing.T, rendered []byte) *appsv1.DaemonSet {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Kind string }
		if yaml.Unmarshal(doc, &meta) != nil || meta.Kind != "DaemonSet" {
			continue
		}
		var ds appsv1.DaemonSet
		if err := yaml.UnmarshalStrict(doc, &ds); err != nil {
			t.Fatalf("the rendered DaemonSet: %v", err)
		}
		return &ds
	}
	t.Fatalf("%s renders no DaemonSet", kustomizeOverlay)
	return nil
}

// argIndex is the index of the arg --flag=... (-1 if none).
func argIndex(args []string, flag string) int {
	for i, a := range args {
		if strings.HasPrefix(a, "--"+flag+"=") {
			return i
		}
	}
	return -1
}

// kustomizeInstall installs the agent with `kubectl apply -k` of the kustomization above in
// apiserver-proxy mode, waits for the DaemonSet's pod on this node to be Ready and checks that it
// runs what was applied (the overlay's mode, the image, the patched args). A failure ends the test
// with kubectl's output or the pod's and agent's own words (install-errors.txt).
func kustomizeInstall(ctx context.Context, t *testing.T, e env, cs *kubernetes.Clientset, args map[string]string) installedAgent {
	t.Helper()
	dir := filepath.Join(e.WorkDir, "kustomize")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k := kustomization(ctx, t, e, dir, args)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(ctx, e, "apply", "-k", dir)
	appendArtifact(e, "kustomize-install.txt", fmt.Sprintf("$ kubectl apply -k %s\n# kustomization.yaml:\n%s# output:\n%s\n", dir, k, out))
	if err != nil {
		installFailed(t, e, fmt.Sprintf("kubectl apply -k %s: %v\n%s", dir, err, out))
	}
	t.Logf("kubectl apply -k: %s", strings.Join(strings.Fields(string(out)), " "))
	a, err := waitAgentReady(ctx, e, cs, agentRelease, agentNamespace, 120*time.Second)
	if err != nil {
		installFailed(t, e, "kubectl apply -k: "+err.Error())
	}
	c := a.Pod.Spec.Containers[0]
	if c.Image != e.AgentImage {
		t.Errorf("the agent's pod runs image %q, want %q (images:)", c.Image, e.AgentImage)
	}
	want := map[string]string{"kubelet.mode": "apiserver-proxy"}
	maps.Copy(want, args)
	for _, f := range sortedKeys(want) {
		if i := argIndex(c.Args, f); i < 0 || c.Args[i] != "--"+f+"="+want[f] {
			t.Errorf("the agent's pod args %v: want --%s=%s", c.Args, f, want[f])
		}
	}
	if i := argIndex(c.Args, "kubelet.ca-file"); i >= 0 {
		t.Errorf("the overlay should have removed --kubelet.ca-file, the pod has %s", c.Args[i])
	}
	return a
}

// auditEvent is what the suite reads of the API server's audit log (up.sh's audit policy logs the
// agent's pod lists and watches and its nodes/proxy gets, at Metadata level).
type auditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	Stage      string `json:"stage"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceived time.Time `json:"requestReceivedTimestamp"`
}

// auditEvents are the audit log's events of user received at or after since that match keep.
func auditEvents(t *testing.T, e env, user string, since time.Time, keep func(auditEvent) bool) []auditEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.Artifacts, "logs", "kube-apiserver-audit.log"))
	if err != nil {
		t.Fatalf("the API server's audit log: %v", err)
	}
	var out []auditEvent
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var ev auditEvent
		if len(line) == 0 || json.Unmarshal(line, &ev) != nil {
			continue
		}
		if ev.User.Username == user && !ev.RequestReceived.Before(since) && keep(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// checkReadsThroughAPIServer: the agent reads the kubelet's summary through the API server's node
// proxy (the API server's audit log has its nodes/proxy gets of /stats/summary, answered 200).
func checkReadsThroughAPIServer(t *testing.T, e env, since time.Time) {
	t.Helper()
	var got []auditEvent
	eventually(t, 30*time.Second, time.Second, "the agent's nodes/proxy reads in the API server's audit log", func() (bool, string) {
		got = auditEvents(t, e, agentUser, since, func(ev auditEvent) bool {
			return ev.Stage == "ResponseComplete" && ev.Verb == "get" && ev.ObjectRef.Resource == "nodes" &&
				ev.ObjectRef.Subresource == "proxy" && ev.ObjectRef.Name == e.Node
		})
		return len(got) > 0, "none yet"
	})
	for _, ev := range got {
		if ev.RequestURI != "/api/v1/nodes/"+e.Node+"/proxy/stats/summary" || ev.ResponseStatus.Code != 200 {
			t.Errorf("the agent's nodes/proxy get: %s answered %d, want /api/v1/nodes/%s/proxy/stats/summary answered 200", ev.RequestURI, ev.ResponseStatus.Code, e.Node)
			return
		}
	}
	t.Logf("the agent read %s's /stats/summary through the API server's node proxy %d times (audit log), all answered 200", e.Node, len(got))
}
