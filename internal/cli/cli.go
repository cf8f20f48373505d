// Package cli holds what the project's daemons share on their command lines: the flag group
// interface, the serving flags and the API server client. It depends on no daemon, so each
// binary (the agent, the events role) links only what it uses.
package cli

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

// FlagGroup is what flags are registered on: an application or one of its commands.
type FlagGroup interface {
	Flag(name, help string) *kingpin.FlagClause
}

// DefaultListenAddress is the port of every role's /metrics.
const DefaultListenAddress = ":9847"

// WebOptions say how metrics are served.
type WebOptions struct {
	TelemetryPath string
	MaxRequests   int
	ProbeAddress  string
	Toolkit       *web.FlagConfig
}

// AddFlags registers the serving flags; probes only where there is a readiness to probe.
func (o *WebOptions) AddFlags(fg FlagGroup, probes bool) {
	fg.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.TelemetryPath)
	fg.Flag("web.max-requests", "Maximum number of concurrent scrapes; 0 means no limit.").Default("40").IntVar(&o.MaxRequests)
	if probes {
		fg.Flag("web.probe-address", "Also serve /healthz and /readyz, without TLS or authentication, on this address (for the kubelet's probes when --web.config.file enables basic auth); empty: only on the main listener.").
			StringVar(&o.ProbeAddress)
	}
	o.Toolkit = kingpinflag.AddFlags(fg, DefaultListenAddress)
}

func (o *WebOptions) Validate() error {
	switch {
	case !strings.HasPrefix(o.TelemetryPath, "/"):
		return fmt.Errorf("--web.telemetry-path %q: must start with /", o.TelemetryPath)
	case o.MaxRequests < 0:
		return fmt.Errorf("--web.max-requests %d: must be 0 (no limit) or more", o.MaxRequests)
	}
	return nil
}

// APIServerClient is the API server's config and client: in-cluster, or from a kubeconfig.
func APIServerClient(kubeconfig string) (*rest.Config, *kube.Client, error) {
	restConfig, err := APIServerConfig(kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	client, err := kube.NewClient(restConfig)
	return restConfig, client, err
}

// APIServerConfig is the API server's config: in-cluster, or from a kubeconfig.
func APIServerConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster API server config (set --kubeconfig outside a cluster): %w", err)
		}
		return cfg, nil
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}
