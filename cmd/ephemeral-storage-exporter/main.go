// Command ephemeral-storage-exporter is the per-node agent: it reads its node's kubelet summary,
// joins it with the node's pod specs and serves, on /metrics, local ephemeral storage usage next
// to the limits the kubelet evicts on. `replay` runs the same pipeline on saved files.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

const program = "ephemeral-storage-exporter"

// defaultMaxResponseSize caps a summary after decompression. It is sized so that the worst body
// the agent accepts (just under the cap, gzip bomb included) keeps its peak RSS within the chart's
// memory limit with margin: TestKubeletBodyUnderTheCapFitsTheChartLimit measures it
// (docs/security.md). A 1,500-pod summary is far below it (docs/performance.md).
const defaultMaxResponseSize = "5MiB"

// common are the flags every mode shares: how to account and how to serve.
type common struct {
	evictionHard  string
	imageFs       string
	telemetryPath string
	maxRequests   int
	probeAddress  string
	log           promslog.Config
}

func (c *common) modelOptions() (model.Options, error) {
	thresholds, err := accounting.ParseThresholds(c.evictionHard)
	if err != nil {
		return model.Options{}, fmt.Errorf("--eviction.hard: %w", err)
	}
	return model.Options{ImageFs: model.ImageFsMode(c.imageFs), Thresholds: thresholds}, nil
}

// defaultGCPercent trades a little CPU for a lower peak: the heap is mostly the summary being
// decoded, garbage a cycle later, and at 250 pods GOGC=50 takes peak RSS from 42 to 37 MiB
// (docs/performance.md). GOGC in the environment overrides it.
const defaultGCPercent = 50

// memoryLimitShare of the container's memory limit, given in bytes by the downward API as
// MEMORY_LIMIT, becomes the Go soft memory limit unless GOMEMLIMIT is set: near it the GC works
// harder instead of letting the heap reach the limit. The rest is for what the Go limit does not
// count: the binary's resident pages, about 18 MiB (docs/performance.md).
const memoryLimitShare = 0.6

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if limit, ok := softMemoryLimit(os.Getenv("GOMEMLIMIT"), os.Getenv("MEMORY_LIMIT")); ok {
		debug.SetMemoryLimit(limit)
	}
	app := kingpin.New(program, "Exports local ephemeral storage usage against the limits the kubelet evicts on.")
	app.Version(version.Print(program))
	app.HelpFlag.Short('h')

	var c common
	app.Flag("eviction.hard", "The kubelet's hard eviction thresholds for storage signals, in the kubelet's syntax.").
		Default(accounting.DefaultEvictionHard).StringVar(&c.evictionHard)
	app.Flag("kubelet.imagefs", "Whether images live on a dedicated filesystem, so the kubelet does not count container rootfs against limits: auto (inferred from the summary), dedicated or shared.").
		Default(string(model.ImageFsAuto)).EnumVar(&c.imageFs, string(model.ImageFsAuto), string(model.ImageFsDedicated), string(model.ImageFsShared))
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&c.telemetryPath)
	app.Flag("web.max-requests", "Maximum number of concurrent scrapes; 0 means no limit.").Default("40").IntVar(&c.maxRequests)
	app.Flag("web.probe-address", "Also serve /healthz and /readyz, without TLS or authentication, on this address (for the kubelet's probes when --web.config.file enables basic auth); empty: only on the main listener.").
		StringVar(&c.probeAddress)
	webFlags := kingpinflag.AddFlags(app, ":9847")
	c.log = promslog.Config{}
	promslogflag.AddFlags(app, &c.log)

	serveCmd := app.Command("serve", "Run the agent against the node's kubelet and the API server (default).").Default()
	s := serveFlags(serveCmd)
	replayCmd := app.Command("replay", "Run the pipeline on a saved summary and pod list (default: the embedded sample node).")
	r := replayFlags(replayCmd)
	adviseCmd := app.Command("advise", "Suggest emptyDir sizeLimits, ephemeral-storage requests/limits and read-only roots per workload, from Prometheus or a saved summary.")
	ad := adviseFlags(adviseCmd)

	cmd := kingpin.MustParse(app.Parse(os.Args[1:]))
	logger := promslog.New(&c.log)
	var err error
	switch cmd {
	case serveCmd.FullCommand():
		err = serve(&c, s, webFlags, logger)
	case replayCmd.FullCommand():
		err = runReplay(&c, r, webFlags, logger)
	case adviseCmd.FullCommand():
		err = runAdvise(&c, ad, os.Stdout)
	}
	if err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// serveOptions are the live agent's flags.
type serveOptions struct {
	nodeName, nodeIP      string
	kubeconfig            string
	kubeletMode           string
	kubeletURL            string
	caFile, tokenFile     string
	insecureSkipVerify    bool
	timeout, minInterval  time.Duration
	maxStaleness          time.Duration
	maxResponseSize       units.Base2Bytes
	evictionFromConfigz   bool
	informerResync        time.Duration
	watchFailedEvents     bool
	logScanEnabled        bool
	readOnlyHints         bool
	readOnlyHintInterval  time.Duration
	logScanRoot           string
	logScanInterval       time.Duration
	logScanMaxBytesPerRun units.Base2Bytes
	logScanMaxLineBytes   units.Base2Bytes
}

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount/"

func serveFlags(cmd *kingpin.CmdClause) *serveOptions {
	o := &serveOptions{}
	cmd.Flag("node.name", "The node this agent watches.").Envar("NODE_NAME").StringVar(&o.nodeName)
	cmd.Flag("node.ip", "The node's IP, for the direct kubelet URL.").Envar("NODE_IP").StringVar(&o.nodeIP)
	cmd.Flag("kubeconfig", "Kubeconfig for out-of-cluster access; in-cluster config when empty.").Envar("KUBECONFIG").StringVar(&o.kubeconfig)
	cmd.Flag("kubelet.mode", "direct: https://$NODE_IP:10250 (RBAC nodes/stats); apiserver-proxy: through the API server (RBAC nodes/proxy).").
		Default("direct").EnumVar(&o.kubeletMode, "direct", "apiserver-proxy")
	cmd.Flag("kubelet.url", "Base URL of the kubelet in direct mode (default https://$NODE_IP:10250).").StringVar(&o.kubeletURL)
	cmd.Flag("kubelet.ca-file", "CA bundle that signs the kubelet's serving certificate.").Default(serviceAccountDir + "ca.crt").StringVar(&o.caFile)
	cmd.Flag("kubelet.insecure-skip-tls-verify", "Do not verify the kubelet's certificate (less safe: for self-signed kubelet certificates only).").BoolVar(&o.insecureSkipVerify)
	cmd.Flag("kubelet.token-file", "Bearer token for the kubelet, re-read as it rotates.").Default(serviceAccountDir + "token").StringVar(&o.tokenFile)
	cmd.Flag("kubelet.timeout", "Timeout of one summary request, decoding included.").Default("5s").DurationVar(&o.timeout)
	cmd.Flag("kubelet.min-interval", "One summary request per interval (jittered ±10%), in the background, however many scrapers ask.").Default("10s").DurationVar(&o.minInterval)
	cmd.Flag("kubelet.max-staleness", "Storage series are dropped once the last good summary is older than this.").Default("5m").DurationVar(&o.maxStaleness)
	cmd.Flag("kubelet.max-response-size", "Larger summaries (decompressed) are refused.").Default(defaultMaxResponseSize).BytesVar(&o.maxResponseSize)
	cmd.Flag("eviction.from-configz", "Read evictionHard from the kubelet's /configz at start (needs RBAC nodes/proxy); falls back to --eviction.hard.").BoolVar(&o.evictionFromConfigz)
	cmd.Flag("kube.resync", "Resync period of the pod and node informers.").Default("10m").DurationVar(&o.informerResync)
	cmd.Flag("events.watch-failed", "Also watch reason=Failed Events (filtered to this node) for container creation failing on a read-only filesystem; off in very large clusters, where each agent would receive every node's Failed events.").
		Default("true").BoolVar(&o.watchFailedEvents)
	cmd.Flag("readonly.hint-events", "Post a ReadOnlyWriteFailed Warning Event on a pod whose container failed to write to its read-only root filesystem, naming the path and the directory to mount (needs RBAC events create); --no-readonly.hint-events turns it off.").Default("true").BoolVar(&o.readOnlyHints)
	cmd.Flag("readonly.hint-interval", "At most one hint Event per pod, container and path per this interval.").Default("1h").DurationVar(&o.readOnlyHintInterval)
	cmd.Flag("logscan.enabled", "Scan container logs under --logscan.root for read-only filesystem errors (needs a read-only hostPath of /var/log/pods).").BoolVar(&o.logScanEnabled)
	cmd.Flag("logscan.root", "Root of the node's pod logs.").Default("/var/log/pods").StringVar(&o.logScanRoot)
	cmd.Flag("logscan.interval", "How often the log scanner reads new log bytes.").Default("10s").DurationVar(&o.logScanInterval)
	cmd.Flag("logscan.max-bytes-per-run", "CPU budget of the log scanner: at most this many new bytes per run (about 1.3 ms of CPU per MiB).").Default("8MiB").BytesVar(&o.logScanMaxBytesPerRun)
	cmd.Flag("logscan.max-line-bytes", "Longer log lines are only searched in their first bytes.").Default("16KiB").BytesVar(&o.logScanMaxLineBytes)
	return o
}

// softMemoryLimit is the Go memory limit derived from the container's memory limit in bytes, when
// GOMEMLIMIT does not set one.
func softMemoryLimit(gomemlimit, containerLimit string) (int64, bool) {
	if gomemlimit != "" {
		return 0, false
	}
	limit, err := strconv.ParseInt(containerLimit, 10, 64)
	if err != nil || limit <= 0 {
		return 0, false
	}
	return int64(float64(limit) * memoryLimitShare), true
}
