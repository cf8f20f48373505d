package main

import (
	"context"
	"errors"
	"log/slog"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect/logscan"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/internal/cli"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/server"
)

func serve(o *serveOptions, logger *slog.Logger) error {
	klog.SetSlogLogger(logger) // client-go's reflector logs in the agent's format
	modelOpts, err := o.accounting.modelOptions()
	if err != nil {
		return err
	}
	restConfig, client, err := cli.APIServerClient(o.kubeconfig)
	if err != nil {
		return err
	}
	kubeletOpts := kubelet.Options{
		Mode: kubelet.Mode(o.kubeletMode), URL: o.kubeletURL, NodeName: o.nodeName, NodeIP: o.nodeIP,
		CAFile: o.caFile, InsecureSkipTLSVerify: o.insecureSkipVerify, TokenFile: o.tokenFile,
		Timeout: o.timeout, MaxResponseBytes: int64(o.maxResponseSize),
	}
	kubeletClient, err := kubelet.NewClient(kubeletOpts, restConfig) // validates the options
	if err != nil {
		return err
	}
	if o.insecureSkipVerify {
		logger.Warn("not verifying the kubelet's TLS certificate (--kubelet.insecure-skip-tls-verify): a node-local attacker could serve forged stats")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.evictionFromConfigz {
		modelOpts.Thresholds, modelOpts.LocalStorageCapacityIsolation = evictionFromConfigz(ctx, kubeletClient, modelOpts.Thresholds, logger)
	}

	view := kube.NewNodeView(client, o.nodeName, o.informerResync)
	agentOpts := agent.Options{NodeName: o.nodeName, MinInterval: o.minInterval, Timeout: o.timeout, MaxStaleness: o.maxStaleness, Model: modelOpts}
	if err := agentOpts.Validate(); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	var exposition *collector.Exposition
	var released sync.Once
	agentOpts.OnSnapshot = func() {
		_, _, _ = exposition.Compressed() // errors resurface in the scrape; the text is inflated only for a scrape without gzip
		released.Do(func() { releaseStartupPages(logger) })
	}
	a := agent.New(agentOpts, kubeletClient, view, logger, reg)
	exposition = collector.NewExposition(a)
	eventsSynced, err := detectEvents(ctx, o, client, restConfig, view, a.Snapshot, logger, reg)
	if err != nil {
		return err
	}
	reg.MustRegister(
		versioncollector.NewCollector("ephemeral_storage_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector.NewInformerSynced(o.nodeName, informersSynced(view, eventsSynced)),
	)
	// Everything is initialised: the binary's pages touched only by init can go before the first
	// fetch raises the heap, and again after the first snapshot (the one-time paths of a first
	// list, handshake and cycle).
	releaseStartupPages(logger)
	view.Start(ctx)
	// The summary is fetched in the background, scrapes are served from memory. The first fetch
	// waits for the pods, so that its snapshot joins them; an API server that is down delays the
	// kubelet-side series by at most this wait, after which pods without specs are counted as
	// unmatched until the watch catches up.
	a.Start(ctx, func(ctx context.Context) {
		syncCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cache.WaitForCacheSync(syncCtx.Done(), view.PodsSynced, view.NodeSynced)
	})

	ready := func() error {
		switch {
		case !view.PodsSynced():
			return errors.New("pod watch not synced")
		case !a.Ready():
			return errors.New("no kubelet summary read yet")
		}
		return nil
	}
	handler, err := server.Handler(server.Options{
		TelemetryPath: o.web.TelemetryPath, MaxRequests: o.web.MaxRequests, Timeout: o.timeout + 5*time.Second,
		Version: version.Info(), Ready: ready,
	}, reg, exposition, a, logger)
	if err != nil {
		return err
	}
	if o.web.ProbeAddress != "" {
		if _, err := server.StartProbes(ctx, o.web.ProbeAddress, server.ProbeHandler(ready), logger); err != nil {
			return err
		}
	}
	logger.Info("starting", "version", version.Info(), "node", o.nodeName, "kubelet_mode", o.kubeletMode)
	return server.ListenAndServe(ctx, handler, o.web.Toolkit, logger)
}

// informersSynced are the watches the agent reports on: the Event watches only when it has them.
func informersSynced(view *kube.NodeView, eventsSynced func() bool) map[string]func() bool {
	synced := map[string]func() bool{"pods": view.PodsSynced, "nodes": view.NodeSynced}
	if eventsSynced != nil {
		synced["events"] = eventsSynced
	}
	return synced
}

// detectEvents wires the eviction and read-only failure detector to the pod watch, with
// --events.cluster-watch the Event watches, and when enabled the log scanner, and starts what the
// node view does not. It returns whether the Event watches have synced, nil without them.
//
// By default the agent opens no Event watch: Events cannot be selected by node, so every agent
// would receive every node's Events and the API server's cost would grow with nodes x Events. What
// pod status shows (evictions) comes from the node-scoped pod watch; what only Events show is
// counted once for the cluster by the `events` role (docs/architecture.md).
func detectEvents(ctx context.Context, o *serveOptions, client *kube.Client, restConfig *rest.Config, view *kube.NodeView,
	snapshot func() *model.Snapshot, logger *slog.Logger, reg prometheus.Registerer) (func() bool, error) {
	opts := detect.Options{NodeName: o.nodeName, Logger: logger, Snapshot: snapshot}
	if o.readOnlyHints {
		hinter, err := readOnlyHinter(ctx, o, restConfig, logger)
		if err != nil {
			return nil, err
		}
		opts.ReadOnlyHint = hinter.ReadOnly
	}
	detector := detect.NewDetector(opts)
	if _, err := view.PodInformer().AddEventHandler(detector.PodHandler()); err != nil {
		return nil, err
	}
	reg.MustRegister(detector.Collector())
	if o.logScanEnabled {
		scanner := logscan.New(logscan.Options{Root: o.logScanRoot, Interval: o.logScanInterval,
			MaxBytesPerRun: int64(o.logScanMaxBytesPerRun), MaxLineBytes: int(o.logScanMaxLineBytes), Logger: logger,
			OwnPodUID: types.UID(o.logScanOwnPodUID)}, detector.ObserveLogLine)
		if o.logScanOwnPodUID == "" {
			logger.Warn("log scanner: the agent's own pod UID is unknown (--logscan.own-pod-uid, POD_UID), so its own log is scanned too and the failures it reports may be counted again as the agent's")
		}
		reg.MustRegister(scanner)
		go scanner.Run(ctx)
	}
	if !o.eventsClusterWatch {
		return nil, nil
	}
	informers := kube.EventInformers(client, o.nodeName, o.informerResync, o.watchFailedEvents, detector.KeepEvent)
	for _, inf := range informers {
		if _, err := inf.AddEventHandler(detector.EventHandler()); err != nil {
			return nil, err
		}
		go inf.RunWithContext(ctx)
	}
	return func() bool {
		for _, inf := range informers {
			if !inf.HasSynced() {
				return false
			}
		}
		return true
	}, nil
}

// readOnlyHinter posts the hint Events from a bounded queue, rate-limited per pod by the hinter.
func readOnlyHinter(ctx context.Context, o *serveOptions, restConfig *rest.Config, logger *slog.Logger) (*detect.Hinter, error) {
	poster, err := newEventPoster(restConfig, logger)
	if err != nil {
		return nil, err
	}
	go poster.Run(ctx)
	source := corev1.EventSource{Component: "ephemeral-storage-exporter", Host: o.nodeName}
	return detect.NewHinter(poster.Post, source, o.readOnlyHintInterval, nil), nil
}

// evictionFromConfigz reads the kubelet's hard and soft thresholds, grace periods, minimum
// reclaims and localStorageCapacityIsolation from /configz, falling back to the --eviction.* flags.
func evictionFromConfigz(ctx context.Context, k *kubelet.Client, fallback []accounting.Threshold, logger *slog.Logger) ([]accounting.Threshold, *bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := k.EvictionConfig(ctx)
	if err == nil {
		var thresholds []accounting.Threshold
		if thresholds, err = accounting.ParseThresholdConfig(cfg.Hard, cfg.Soft, cfg.SoftGracePeriod, cfg.MinimumReclaim); err == nil {
			logger.Info("eviction settings read from the kubelet's /configz", "evictionHard", cfg.Hard, "evictionSoft", cfg.Soft,
				"evictionSoftGracePeriod", cfg.SoftGracePeriod, "evictionMinimumReclaim", cfg.MinimumReclaim)
			return thresholds, cfg.LocalStorageCapacityIsolation
		}
	}
	logger.Warn("could not read eviction thresholds from /configz; using the --eviction.* flags", "err", err)
	return fallback, nil
}

func releaseStartupPages(logger *slog.Logger) {
	advised, err := releaseBinaryPages()
	logger.Debug("released the binary's startup pages", "advised_bytes", advised, "err", err)
}
