package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/advise"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/internal/cli"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// The options tree: every subcommand's options struct registers only the flags that subcommand
// reads (AddFlags) and checks them in one place (Validate), as metrics-server does. Flags shared by
// several subcommands are small structs embedded in each.

// options is the whole command line.
type options struct {
	log    promslog.Config
	serve  *serveOptions
	replay *replayOptions
	advise *adviseOptions
}

// Subcommand names.
const (
	cmdServe  = "serve"
	cmdReplay = "replay"
	cmdAdvise = "advise"
)

// newApp builds the command line: the log flags, which every subcommand uses, on the application;
// everything else on the subcommand that reads it.
func newApp() (*kingpin.Application, *options) {
	app := kingpin.New(program, "Exports local ephemeral storage usage against the limits the kubelet evicts on.")
	app.Version(version.Print(program))
	app.HelpFlag.Short('h')
	o := &options{serve: &serveOptions{}, replay: &replayOptions{}, advise: &adviseOptions{}}
	promslogflag.AddFlags(app, &o.log)
	o.serve.AddFlags(app.Command(cmdServe, "Run the agent against the node's kubelet and the API server (default).").Default())
	o.replay.AddFlags(app.Command(cmdReplay, "Run the pipeline on a saved summary and pod list (default: the embedded sample node)."))
	o.advise.AddFlags(app.Command(cmdAdvise, "Suggest emptyDir sizeLimits, ephemeral-storage requests/limits and read-only roots per workload, from Prometheus or a saved summary."))
	return app, o
}

// parse parses and validates a command line, returning the chosen subcommand.
func parse(args []string) (string, *options, error) {
	app, o := newApp()
	cmd, err := app.Parse(args)
	if err != nil {
		return "", nil, err
	}
	validate := map[string]func() error{cmdServe: o.serve.Validate, cmdReplay: o.replay.Validate, cmdAdvise: o.advise.Validate}[cmd]
	if err := validate(); err != nil {
		return "", nil, err
	}
	return cmd, o, nil
}

// accountingOptions say how the kubelet accounts and evicts, where it cannot be read from it.
type accountingOptions struct {
	evictionHard, evictionSoft, evictionSoftGracePeriod, evictionMinimumReclaim string
	imageFs                                                                     string
}

func (o *accountingOptions) AddFlags(fg cli.FlagGroup) {
	fg.Flag("eviction.hard", "The kubelet's hard eviction thresholds for storage signals, in the kubelet's syntax.").
		Default(accounting.DefaultEvictionHard).StringVar(&o.evictionHard)
	fg.Flag("eviction.soft", "The kubelet's soft eviction thresholds for storage signals, in the kubelet's syntax (nodefs.available<15%); each needs a grace period.").
		StringVar(&o.evictionSoft)
	fg.Flag("eviction.soft-grace-period", "How long each soft threshold must be met before the kubelet evicts, in the kubelet's syntax (nodefs.available=1m30s).").
		StringVar(&o.evictionSoftGracePeriod)
	fg.Flag("eviction.minimum-reclaim", "How much the kubelet frees beyond a threshold once it evicts, in the kubelet's syntax (nodefs.available=500Mi).").
		StringVar(&o.evictionMinimumReclaim)
	fg.Flag("kubelet.imagefs", "Whether images live on a dedicated filesystem, so the kubelet does not count container rootfs against limits: auto (inferred from the summary), dedicated or shared.").
		Default(string(model.ImageFsAuto)).EnumVar(&o.imageFs, string(model.ImageFsAuto), string(model.ImageFsDedicated), string(model.ImageFsShared))
}

func (o *accountingOptions) Validate() error {
	_, err := o.modelOptions()
	return err
}

func (o *accountingOptions) modelOptions() (model.Options, error) {
	thresholds, err := o.thresholds()
	if err != nil {
		return model.Options{}, err
	}
	return model.Options{ImageFs: model.ImageFsMode(o.imageFs), Thresholds: thresholds}, nil
}

// thresholds parses the eviction.* flags as the kubelet parses its --eviction-* flags
// (ParseThresholdConfig, pkg/kubelet/eviction/helpers.go): hard and soft "signal<value", grace
// periods and reclaims "signal=value". Each flag is checked on its own first, so an error names it.
func (o *accountingOptions) thresholds() ([]accounting.Threshold, error) {
	specs := []struct {
		flag, spec, sep string
		check           func(m map[string]string) error
	}{
		{"eviction.hard", o.evictionHard, "<", func(m map[string]string) error { return parseOnly(m, nil, nil, nil) }},
		{"eviction.soft", o.evictionSoft, "<", func(m map[string]string) error { return parseOnly(m, nil, nil, nil) }},
		{"eviction.soft-grace-period", o.evictionSoftGracePeriod, "=", func(m map[string]string) error { return parseOnly(nil, nil, m, nil) }},
		{"eviction.minimum-reclaim", o.evictionMinimumReclaim, "=", func(m map[string]string) error { return parseOnly(nil, nil, nil, m) }},
	}
	maps := make([]map[string]string, len(specs))
	for i, f := range specs {
		m, err := accounting.ParseStatements(f.spec, f.sep)
		if err == nil {
			err = f.check(m)
		}
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", f.flag, err)
		}
		maps[i] = m
	}
	thresholds, err := accounting.ParseThresholdConfig(maps[0], maps[1], maps[2], maps[3])
	if err != nil { // every flag parsed alone: what is left is a soft threshold without its period
		return nil, fmt.Errorf("--eviction.soft-grace-period: %w", err)
	}
	return thresholds, nil
}

func parseOnly(hard, soft, gracePeriods, minReclaims map[string]string) error {
	_, err := accounting.ParseThresholdConfig(hard, soft, gracePeriods, minReclaims)
	return err
}

// serveOptions are the live agent's flags.
type serveOptions struct {
	accounting            accountingOptions
	web                   cli.WebOptions
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
	eventsClusterWatch    bool
	logScanEnabled        bool
	readOnlyHints         bool
	readOnlyHintInterval  time.Duration
	logScanRoot           string
	logScanInterval       time.Duration
	logScanMaxBytesPerRun units.Base2Bytes
	logScanMaxLineBytes   units.Base2Bytes
	logScanOwnPodUID      string
}

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount/"

func (o *serveOptions) AddFlags(cmd cli.FlagGroup) {
	o.accounting.AddFlags(cmd)
	o.web.AddFlags(cmd, true)
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
	cmd.Flag("eviction.from-configz", "Read the eviction thresholds, grace periods and minimum reclaims from the kubelet's /configz at start (needs RBAC nodes/proxy); falls back to the --eviction.* flags.").BoolVar(&o.evictionFromConfigz)
	cmd.Flag("kube.resync", "Resync period of the pod and node informers.").Default("10m").DurationVar(&o.informerResync)
	cmd.Flag("events.cluster-watch", "Watch the Events of the whole cluster (reason=Evicted, this node's Node Events and, with --events.watch-failed, reason=Failed) and filter them to this node, as agents did before the `events` role; each agent then receives every node's Events. Default: no Event watch, the `events` role counts what only Events show.").
		BoolVar(&o.eventsClusterWatch)
	cmd.Flag("events.watch-failed", "With --events.cluster-watch, also watch reason=Failed Events (filtered to this node) for container creation failing on a read-only filesystem.").
		Default("true").BoolVar(&o.watchFailedEvents)
	cmd.Flag("readonly.hint-events", "Post a ReadOnlyWriteFailed Warning Event on a pod whose container failed to write to its read-only root filesystem, naming the path and the directory to mount (needs RBAC events create); --no-readonly.hint-events turns it off.").Default("true").BoolVar(&o.readOnlyHints)
	cmd.Flag("readonly.hint-interval", "At most one hint Event per pod, container and path per this interval.").Default("1h").DurationVar(&o.readOnlyHintInterval)
	cmd.Flag("logscan.enabled", "Scan container logs under --logscan.root for read-only filesystem errors (needs a read-only hostPath of /var/log/pods).").BoolVar(&o.logScanEnabled)
	cmd.Flag("logscan.root", "Root of the node's pod logs.").Default("/var/log/pods").StringVar(&o.logScanRoot)
	cmd.Flag("logscan.interval", "How often the log scanner reads new log bytes.").Default("10s").DurationVar(&o.logScanInterval)
	cmd.Flag("logscan.max-bytes-per-run", "CPU budget of the log scanner: at most this many new bytes per run (about 1.3 ms of CPU per MiB).").Default("8MiB").BytesVar(&o.logScanMaxBytesPerRun)
	cmd.Flag("logscan.own-pod-uid", "The agent's own pod UID (downward API metadata.uid), whose logs the scanner does not read: they quote the failures the agent reports.").Envar("POD_UID").StringVar(&o.logScanOwnPodUID)
	cmd.Flag("logscan.max-line-bytes", "Longer log lines are only searched in their first bytes.").Default("16KiB").BytesVar(&o.logScanMaxLineBytes)
}

func (o *serveOptions) Validate() error {
	if o.nodeName == "" {
		return errors.New("--node.name (or NODE_NAME) is required: the agent watches one node, normally set from the downward API (spec.nodeName)")
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"kubelet.timeout", o.timeout}, {"kubelet.min-interval", o.minInterval}, {"kubelet.max-staleness", o.maxStaleness},
		{"readonly.hint-interval", o.readOnlyHintInterval}, {"logscan.interval", o.logScanInterval},
	} {
		if d.value <= 0 {
			return fmt.Errorf("--%s %v: must be positive", d.flag, d.value)
		}
	}
	for _, b := range []struct {
		flag  string
		value units.Base2Bytes
	}{
		{"kubelet.max-response-size", o.maxResponseSize}, {"logscan.max-bytes-per-run", o.logScanMaxBytesPerRun}, {"logscan.max-line-bytes", o.logScanMaxLineBytes},
	} {
		if b.value <= 0 {
			return fmt.Errorf("--%s %v: must be positive", b.flag, b.value)
		}
	}
	if o.informerResync < 0 {
		return fmt.Errorf("--kube.resync %v: must be 0 (no resync) or more", o.informerResync)
	}
	if err := o.accounting.Validate(); err != nil {
		return err
	}
	return o.web.Validate()
}

// replayOptions are the flags of `replay`.
type replayOptions struct {
	accounting          accountingOptions
	web                 cli.WebOptions
	summary, pods, node string
	once                bool
}

func (o *replayOptions) AddFlags(cmd cli.FlagGroup) {
	o.accounting.AddFlags(cmd)
	o.web.AddFlags(cmd, false)
	cmd.Flag("summary", "A saved /stats/summary response (JSON). Empty: the embedded sample node.").StringVar(&o.summary)
	cmd.Flag("pods", "The pods of the same node: `kubectl get pods -o yaml` (a List, PodList or Pod).").StringVar(&o.pods)
	cmd.Flag("node", "The node object (`kubectl get node NAME -o yaml`), optional.").StringVar(&o.node)
	cmd.Flag("once", "Print the metrics once to standard output and exit, instead of serving them.").BoolVar(&o.once)
}

func (o *replayOptions) Validate() error {
	if o.summary != "" && o.pods == "" {
		return errors.New("--pods is required with --summary")
	}
	if (o.pods != "" || o.node != "") && o.summary == "" {
		return errors.New("--pods and --node go with --summary")
	}
	if err := o.accounting.Validate(); err != nil {
		return err
	}
	return o.web.Validate()
}

// adviseOptions are the flags of `advise`.
type adviseOptions struct {
	accounting    accountingOptions
	prometheusURL string
	timeout       time.Duration
	window        string
	end           string
	headroom      float64
	output        string
	namespace     string
	selector      string
	summary, pods string
	node          string
	sample        bool
	fromEvents    bool
	kubeconfig    string
	kubeletConfig string
}

func (o *adviseOptions) AddFlags(cmd cli.FlagGroup) {
	o.accounting.AddFlags(cmd)
	cmd.Flag("prometheus.url", "Base URL of the Prometheus server holding the agent's series (e.g. http://prometheus:9090).").StringVar(&o.prometheusURL)
	cmd.Flag("prometheus.timeout", "Timeout of the whole analysis against Prometheus.").Default("2m").DurationVar(&o.timeout)
	cmd.Flag("window", "How far back to look for peaks, as a Prometheus duration.").Default("7d").StringVar(&o.window)
	cmd.Flag("end", "End of the window (RFC 3339); default now.").StringVar(&o.end)
	cmd.Flag("headroom", "Multiplier from an observed peak to a suggested emptyDir sizeLimit (+20% by the sizing rules).").Default("1.2").Float64Var(&o.headroom)
	cmd.Flag("output", "Output format: table, json, or patch (strategic-merge patches for kubectl patch).").Short('o').Default(advise.FormatTable).EnumVar(&o.output, advise.Formats...)
	cmd.Flag("namespace", "Only this namespace.").StringVar(&o.namespace)
	cmd.Flag("selector", "Extra label matchers for every series, e.g. 'cluster=\"prod\"'.").StringVar(&o.selector)
	cmd.Flag("summary", "Advise from a saved /stats/summary (a snapshot, not a window) instead of Prometheus.").StringVar(&o.summary)
	cmd.Flag("pods", "The pods of the same node, with --summary.").StringVar(&o.pods)
	cmd.Flag("node", "The node object, with --summary (optional).").StringVar(&o.node)
	cmd.Flag("sample", "Advise from the embedded sample node (a snapshot, not a window).").BoolVar(&o.sample)
	cmd.Flag("from-events", "Advise on read-only root filesystems from the agent's ReadOnlyWriteFailed Events in the API server (no Prometheus needed): a writable emptyDir where the writes failed.").BoolVar(&o.fromEvents)
	cmd.Flag("kubeconfig", "Kubeconfig for --from-events; in-cluster config when empty.").Envar("KUBECONFIG").StringVar(&o.kubeconfig)
	cmd.Flag("kubelet.config", "The nodes' KubeletConfiguration file or saved /configz answer: its containerLogMaxSize x containerLogMaxFiles is the floor of every container limit (default 10Mi x 5, the kubelet's).").StringVar(&o.kubeletConfig)
}

func (o *adviseOptions) Validate() error {
	chosen := 0
	for _, set := range []bool{o.prometheusURL != "", o.summary != "", o.sample, o.fromEvents} {
		if set {
			chosen++
		}
	}
	switch {
	case chosen != 1:
		return errors.New("advise needs exactly one of --prometheus.url, --summary (with --pods), --sample or --from-events")
	case o.summary != "" && o.pods == "":
		return errors.New("--pods is required with --summary")
	case o.headroom < 1:
		return fmt.Errorf("--headroom %v: below 1 would suggest a sizeLimit under the observed peak", o.headroom)
	case o.timeout <= 0:
		return fmt.Errorf("--prometheus.timeout %v: must be positive", o.timeout)
	}
	if o.prometheusURL != "" {
		if _, err := advise.ParseWindow(o.window); err != nil {
			return fmt.Errorf("--window: %w", err)
		}
		if _, _, err := advise.ParseSelector(o.selector); err != nil {
			return fmt.Errorf("--selector: %w", err)
		}
		if o.end != "" {
			if _, err := time.Parse(time.RFC3339, o.end); err != nil {
				return fmt.Errorf("--end: %w", err)
			}
		}
	}
	return o.accounting.Validate()
}
