package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/server"
)

type replayOptions struct {
	summary, pods, node string
	once                bool
}

func replayFlags(cmd *kingpin.CmdClause) *replayOptions {
	o := &replayOptions{}
	cmd.Flag("summary", "A saved /stats/summary response (JSON). Empty: the embedded sample node.").StringVar(&o.summary)
	cmd.Flag("pods", "The pods of the same node: `kubectl get pods -o yaml` (a List, PodList or Pod).").StringVar(&o.pods)
	cmd.Flag("node", "The node object (`kubectl get node NAME -o yaml`), optional.").StringVar(&o.node)
	cmd.Flag("once", "Print the metrics once to standard output and exit, instead of serving them.").BoolVar(&o.once)
	return o
}

func runReplay(c *common, o *replayOptions, webFlags *web.FlagConfig, logger *slog.Logger) error {
	var (
		rec *dump.Dump
		err error
	)
	if o.summary == "" {
		rec, err = dump.Sample()
	} else {
		if o.pods == "" {
			return errors.New("--pods is required with --summary")
		}
		rec, err = dump.Load(o.summary, o.pods, o.node)
	}
	if err != nil {
		return err
	}
	modelOpts, err := c.modelOptions()
	if err != nil {
		return err
	}
	summary, _ := rec.Summary(context.Background())
	// The dump's own time is the clock: a replay shows the node as it was when it was saved.
	opts := agent.Options{NodeName: summary.Node.NodeName, MinInterval: time.Hour, Timeout: time.Minute, MaxStaleness: 100 * 365 * 24 * time.Hour,
		Model: modelOpts, Now: rec.Time}
	reg := prometheus.NewRegistry()
	a := agent.New(opts, rec, rec.View(), logger, reg)
	storage := collector.NewExposition(a)
	a.Refresh(context.Background())
	if o.once {
		text, _, err := storage.Render()
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(text)
		return err
	}
	handler, err := server.Handler(server.Options{TelemetryPath: c.telemetryPath, MaxRequests: c.maxRequests, Timeout: time.Minute,
		Version: version.Info(), Ready: func() error { return nil }}, reg, storage, a, logger)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("replaying", "node", summary.Node.NodeName, "taken_at", rec.Time())
	return server.ListenAndServe(ctx, handler, webFlags, logger)
}
