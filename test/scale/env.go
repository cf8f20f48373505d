// Package scale is the scale harness of docs/scale.md: a real kube-apiserver (hack/scale/run.sh
// starts it inside a network namespace of its own), simulated nodes, pods and Events, the real
// agent binary on fake kubelets, and the counters that say what each agent costs the API server.
package scale

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Env is what hack/scale/run.sh and cluster.sh export.
type Env struct {
	APIServer, CA, Token, AgentBin, PluginBin string
	Work, Artifacts, NodeIP                   string
	KubeletCert, KubeletKey, AdminKubeconfig  string
	APIServerPID                              int
}

// LoadEnv reads the SCALE_* variables; ok is false outside the harness (the tests then skip).
func LoadEnv() (env *Env, ok bool, err error) {
	get := func(k string) string { return os.Getenv("SCALE_" + k) }
	if get("APISERVER") == "" {
		return nil, false, nil
	}
	env = &Env{APIServer: get("APISERVER"), CA: get("CA"), Token: get("TOKEN"), AgentBin: get("AGENT_BIN"),
		PluginBin: get("PLUGIN_BIN"), Work: get("WORKDIR"), Artifacts: get("ARTIFACTS"), NodeIP: get("NODE_IP"),
		KubeletCert: get("KUBELET_CERT"), KubeletKey: get("KUBELET_KEY"), AdminKubeconfig: get("ADMIN_KUBECONFIG")}
	for name, v := range map[string]string{"CA": env.CA, "TOKEN": env.Token, "AGENT_BIN": env.AgentBin, "WORKDIR": env.Work,
		"ARTIFACTS": env.Artifacts, "NODE_IP": env.NodeIP, "KUBELET_CERT": env.KubeletCert, "KUBELET_KEY": env.KubeletKey} {
		if v == "" {
			return nil, true, fmt.Errorf("SCALE_%s is not set", name)
		}
	}
	if env.APIServerPID, err = strconv.Atoi(get("APISERVER_PID")); err != nil {
		return nil, true, fmt.Errorf("SCALE_APISERVER_PID: %w", err)
	}
	return env, true, nil
}

// RESTConfig is the admin's config for the harness's own requests: generous client-side limits,
// since populating a thousand nodes is the harness's job, not what is measured.
func (e *Env) RESTConfig() *rest.Config {
	return &rest.Config{Host: e.APIServer, BearerToken: e.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: e.CA},
		QPS: 1000, Burst: 2000, UserAgent: "scale-harness"}
}

// Clientset for the harness.
func (e *Env) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(e.RESTConfig())
}

// IntList parses "10,100,1000".
func IntList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// restTLSNone: the counting proxies speak plain HTTP on loopback.
var restTLSNone = rest.TLSClientConfig{}
