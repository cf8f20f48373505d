// Command ephemeral-storage-events is the cluster-scoped events role: one leader-elected replica
// for the cluster watches the Events only Events show and counts them per node and workload. It is
// its own binary, beside the agent (cmd/ephemeral-storage-exporter) in the same image, so that the
// agent on every node links neither client-go's leader election nor its generated clientset.
//
// Replicas elect a leader through a Lease; only the leader watches and exports the counters
// (detect.ClusterCounter says which signal it owns), so that a rollout's two replicas neither
// double the API server's work nor the counts.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/internal/cli"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/server"
)

const program = "ephemeral-storage-events"

func main() {
	o, logConfig, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v, try --help\n", program, err)
		os.Exit(1)
	}
	logger := promslog.New(logConfig)
	if err := runEvents(o, logger); err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// newApp builds the command line: the log flags and the events role's.
func newApp() (*kingpin.Application, *eventsOptions, *promslog.Config) {
	app := kingpin.New(program, "Runs the cluster-scoped events role of ephemeral-storage-exporter: one leader-elected replica watches the Events only Events show and counts them per node and workload.")
	app.Version(version.Print(program))
	app.HelpFlag.Short('h')
	o, logConfig := &eventsOptions{}, &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	o.AddFlags(app)
	return app, o, logConfig
}

// parse parses and validates a command line.
func parse(args []string) (*eventsOptions, *promslog.Config, error) {
	app, o, logConfig := newApp()
	if _, err := app.Parse(args); err != nil {
		return nil, nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	return o, logConfig, nil
}

// eventsOptions are the events role's flags.
type eventsOptions struct {
	web            cli.WebOptions
	kubeconfig     string
	informerResync time.Duration
	leaseNamespace string
	leaseName      string
	identity       string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
}

func (o *eventsOptions) AddFlags(cmd cli.FlagGroup) {
	o.web.AddFlags(cmd, true)
	cmd.Flag("kubeconfig", "Kubeconfig for out-of-cluster access; in-cluster config when empty.").Envar("KUBECONFIG").StringVar(&o.kubeconfig)
	cmd.Flag("kube.resync", "Resync period of the Event informers.").Default("10m").DurationVar(&o.informerResync)
	cmd.Flag("leader-election.namespace", "Namespace of the Lease the replicas elect a leader with (the pod's own, from the downward API).").Envar("POD_NAMESPACE").StringVar(&o.leaseNamespace)
	cmd.Flag("leader-election.lease-name", "Name of the Lease.").Default("ephemeral-storage-exporter-events").StringVar(&o.leaseName)
	cmd.Flag("leader-election.identity", "This replica's identity in the Lease (the pod's name, from the downward API); default the host name.").Envar("POD_NAME").StringVar(&o.identity)
	cmd.Flag("leader-election.lease-duration", "How long a leader's Lease holds without renewal before another replica takes over.").Default("15s").DurationVar(&o.leaseDuration)
	cmd.Flag("leader-election.renew-deadline", "How long the leader retries renewing before it gives up leading (and exits).").Default("10s").DurationVar(&o.renewDeadline)
	cmd.Flag("leader-election.retry-period", "Interval between attempts to acquire or renew the Lease.").Default("2s").DurationVar(&o.retryPeriod)
}

func (o *eventsOptions) Validate() error {
	if o.leaseNamespace == "" {
		return errors.New("--leader-election.namespace (or POD_NAMESPACE) is required: the namespace of the Lease")
	}
	if o.identity == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return errors.New("--leader-election.identity (or POD_NAME) is required when the host name is unknown")
		}
		o.identity = host
	}
	// client-go's own rule (leaderelection.NewLeaderElector): duration > deadline > jitter*retry.
	switch {
	case o.retryPeriod <= 0 || o.renewDeadline <= 0 || o.leaseDuration <= 0:
		return errors.New("--leader-election.* durations must be positive")
	case o.leaseDuration <= o.renewDeadline:
		return fmt.Errorf("--leader-election.lease-duration %v must be greater than --leader-election.renew-deadline %v", o.leaseDuration, o.renewDeadline)
	case float64(o.renewDeadline) <= leaderelection.JitterFactor*float64(o.retryPeriod):
		return fmt.Errorf("--leader-election.renew-deadline %v must be greater than %v x --leader-election.retry-period %v", o.renewDeadline, leaderelection.JitterFactor, o.retryPeriod)
	case o.informerResync < 0:
		return fmt.Errorf("--kube.resync %v: must be 0 (no resync) or more", o.informerResync)
	}
	return o.web.Validate()
}

// runEvents serves /metrics at once (the leader gauge, process metrics) and campaigns for the
// Lease; the leader starts the Event watches and exports the counters. A leader that loses the
// Lease exits: the next process starts with fresh counters and a fresh watch, as after a restart.
func runEvents(o *eventsOptions, logger *slog.Logger) error {
	klog.SetSlogLogger(logger)
	restConfig, client, err := cli.APIServerClient(o.kubeconfig)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	reg := prometheus.NewRegistry()
	role := newEventsRole(client, o.informerResync, logger)
	reg.MustRegister(
		versioncollector.NewCollector("ephemeral_storage_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		role.collector(),
	)
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	elector, err := newElector(o, clientset.CoordinationV1(), role, logger)
	if err != nil {
		return err
	}
	handler, err := server.Handler(server.Options{
		TelemetryPath: o.web.TelemetryPath, MaxRequests: o.web.MaxRequests, Timeout: 10 * time.Second,
		Version: version.Info(), Ready: role.ready,
	}, reg, noStorage{}, noRefresh{}, logger)
	if err != nil {
		return err
	}
	if o.web.ProbeAddress != "" {
		if _, err := server.StartProbes(ctx, o.web.ProbeAddress, server.ProbeHandler(role.ready), logger); err != nil {
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- server.ListenAndServe(ctx, handler, o.web.Toolkit, logger) }()
	logger.Info("starting the events role", "version", version.Info(), "lease", o.leaseNamespace+"/"+o.leaseName, "identity", o.identity)
	elector.Run(ctx) // returns when ctx ends or the Lease is lost
	if ctx.Err() == nil {
		return errors.New("lost the leader election Lease")
	}
	return <-served
}

// newElector campaigns for the Lease o names, starting role when elected. ReleaseOnCancel hands the
// Lease over at once on SIGTERM (a rollout) instead of after lease-duration.
func newElector(o *eventsOptions, leases coordinationv1.CoordinationV1Interface, role *eventsRole, logger *slog.Logger) (*leaderelection.LeaderElector, error) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.leaseNamespace, Name: o.leaseName},
		Client:     leases,
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.identity},
	}
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod,
		ReleaseOnCancel: true, Name: o.leaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: role.lead,
			OnStoppedLeading: func() { logger.Info("no longer leading", "identity", o.identity) },
			OnNewLeader: func(identity string) {
				if identity != o.identity {
					logger.Info("following", "leader", identity)
				}
			},
		},
	})
}

// eventsRole is what the leader runs: the Event watches feeding the cluster counter.
type eventsRole struct {
	client  *kube.Client
	resync  time.Duration
	logger  *slog.Logger
	counter *detect.ClusterCounter
	leading atomic.Bool
	synced  atomic.Pointer[func() bool]
	leader  prometheus.Gauge
}

func newEventsRole(client *kube.Client, resync time.Duration, logger *slog.Logger) *eventsRole {
	r := &eventsRole{client: client, resync: resync, logger: logger,
		leader: detect.NewLeaderGauge(),
	}
	r.counter = detect.NewClusterCounter(detect.ClusterOptions{Logger: logger, GetPod: client.GetPod, GetNode: client.GetNode, IsNotFound: apierrors.IsNotFound})
	return r
}

// lead starts the watches; it runs until ctx ends (the Lease is lost or the process stops).
func (r *eventsRole) lead(ctx context.Context) {
	r.logger.Info("leading: watching the cluster's Events")
	informers := kube.ClusterEventInformers(r.client, r.resync, r.counter.Keep)
	handlers := make([]cache.ResourceEventHandlerRegistration, 0, len(informers))
	for _, inf := range informers {
		h, err := inf.AddEventHandler(r.counter.Handler(ctx))
		if err != nil {
			r.logger.Error("event handler", "err", err)
			return
		}
		handlers = append(handlers, h)
	}
	// Synced once the handlers have seen the first lists, not only the stores.
	synced := func() bool {
		for _, h := range handlers {
			if !h.HasSynced() {
				return false
			}
		}
		return true
	}
	r.synced.Store(&synced)
	r.leading.Store(true)
	r.leader.Set(1)
	for _, inf := range informers {
		go inf.RunWithContext(ctx)
	}
	go r.counter.RunEvictionChecks(ctx)
	<-ctx.Done()
	r.leading.Store(false)
	r.leader.Set(0)
}

// ready: a follower is ready (it stands by); the leader once its watches have synced.
func (r *eventsRole) ready() error {
	if !r.leading.Load() {
		return nil
	}
	if synced := r.synced.Load(); synced != nil && !(*synced)() {
		return errors.New("event watches not synced")
	}
	return nil
}

// collector exports the leader gauge always, the counters only while leading: a follower's
// counters are empty anyway (it does not watch), and a former leader's would otherwise linger
// beside the new leader's.
func (r *eventsRole) collector() prometheus.Collector {
	return &leaderOnly{role: r}
}

type leaderOnly struct{ role *eventsRole }

func (l *leaderOnly) Describe(ch chan<- *prometheus.Desc) {
	l.role.leader.Describe(ch)
	l.role.counter.Collector().Describe(ch)
}

func (l *leaderOnly) Collect(ch chan<- prometheus.Metric) {
	l.role.leader.Collect(ch)
	if l.role.leading.Load() {
		l.role.counter.Collector().Collect(ch)
	}
}

// noStorage and noRefresh: the events role has no pre-rendered storage series and no snapshot.
type noStorage struct{}

// emptyMember is the gzip member of no text, so that gzip scrapes stay gzip.
var emptyMember = func() []byte {
	var b bytes.Buffer
	_ = gzip.NewWriter(&b).Close() // writes to memory: cannot fail
	return b.Bytes()
}()

func (noStorage) Compressed() ([]byte, int, error) { return emptyMember, 0, nil }
func (noStorage) Text() ([]byte, error)            { return nil, nil }

type noRefresh struct{}

func (noRefresh) Refresh(context.Context) {}
