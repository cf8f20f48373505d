package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The events role beside the agent (docs/architecture.md#roles): started as a host process with
// the args of the kustomize Deployment (deploy/kustomize/events/events.yaml, equal to the chart's
// by deploy/test), and the eviction summed over both /metrics endpoints must be exactly one.

// startEventsRole runs the Deployment's command (cmd/ephemeral-storage-events) with its args, overriding only the listeners. It uses
// the admin kubeconfig: its RBAC is checked by deploy/test (TestEventsRoleRender), not here. It
// returns its metrics URL once it leads with its watches synced.
func startEventsRole(t *testing.T, e env, hc *http.Client) string {
	t.Helper()
	path := filepath.Join(e.Root, "deploy", "kustomize", "events", "events.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for i := 0; i < 32 && dep == nil; i++ { // bounded: the file holds a handful of objects
		var d appsv1.Deployment
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: no Deployment: %v", path, err)
		}
		if d.Kind == "Deployment" {
			dep = &d
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 || len(dep.Spec.Template.Spec.Containers[0].Command) != 1 {
		t.Fatalf("%s: want a Deployment with one container and its command", path)
	}
	// The Deployment's command is the image's second binary; hack/e2e/up.sh builds it beside the agent.
	bin := filepath.Join(filepath.Dir(e.AgentBin), filepath.Base(dep.Spec.Template.Spec.Containers[0].Command[0]))
	port, probePort := freePort(t), freePort(t)
	overrides := map[string]string{
		"web.listen-address": fmt.Sprintf("127.0.0.1:%d", port),
		"web.probe-address":  fmt.Sprintf("127.0.0.1:%d", probePort),
		"log.format":         "json",
	}
	var args []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if v, ok := overrides[name]; ok {
			a = "--" + name + "=" + v
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig="+e.AdminKubeconfig)
	t.Logf("events role (from %s): %s %v", path, bin, args)
	startProcessEnv(t, e, "events-role", []string{"POD_NAMESPACE=default", "POD_NAME=e2e-events-0"}, append([]string{bin}, args...)...)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 60*time.Second, 500*time.Millisecond, "events role leading, watches synced", func() (bool, string) {
		code, body, err := get(hc, url+"/metrics", "")
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("%d %v", code, err)
		}
		v, ok := sampleSum(string(body), "ephemeral_storage_events_leader")
		code2, _, err2 := get(hc, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), "")
		return ok && v == 1 && err2 == nil && code2 == http.StatusOK, fmt.Sprintf("leader=%v readyz=%d %v", v, code2, err2)
	})
	return url
}

// sampleSum adds the samples of metric whose line contains every match, in a text exposition.
func sampleSum(text, metric string, match ...string) (float64, bool) {
	sum, found := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		if !containsAll(line, match) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// evictionsAcrossRoles is ephemeral_storage_evictions_total of one workload summed over the
// agent's and the events role's /metrics, read directly (not through Prometheus).
func evictionsAcrossRoles(t *testing.T, hc *http.Client, workload string, urls ...string) (float64, []string) {
	t.Helper()
	total := 0.0
	var per []string
	for _, u := range urls {
		code, body, err := get(hc, u+"/metrics", "")
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s/metrics: %d %v", u, code, err)
		}
		w, _ := sampleSum(string(body), "ephemeral_storage_evictions_total", fmt.Sprintf(`namespace=%q`, scenarioNS), fmt.Sprintf(`workload=%q`, workload))
		total += w
		per = append(per, fmt.Sprintf("%s: %v", u, w))
	}
	return total, per
}

// checkCountedOnceAcrossRoles: the eviction the agent counted from the pod's status is not
// counted again by the events role from the kubelet's Evicted Event. The role decides an eviction
// once the pod is terminal, at most detect.EvictionCheckInterval (5s) after: waited for here.
func checkCountedOnceAcrossRoles(t *testing.T, hc *http.Client, workload string, urls ...string) {
	t.Helper()
	eventually(t, 30*time.Second, time.Second, "the eviction of "+workload+" counted", func() (bool, string) {
		total, per := evictionsAcrossRoles(t, hc, workload, urls...)
		return total >= 1, strings.Join(per, "; ")
	})
	time.Sleep(15 * time.Second) // the behaviour under test: no second count within 3 eviction checks
	total, per := evictionsAcrossRoles(t, hc, workload, urls...)
	if total != 1 {
		t.Errorf("eviction of %s: want exactly 1 across the agent and the events role, got %v (%s)", workload, total, strings.Join(per, "; "))
	} else {
		t.Logf("eviction of %s counted once across roles: %s", workload, strings.Join(per, "; "))
	}
}

func containsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}
