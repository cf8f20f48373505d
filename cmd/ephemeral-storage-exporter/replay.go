package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/server"
)

// runReplay runs the agent's pipeline on a recorded dump, with the dump's time as the clock.
func runReplay(o *replayOptions, logger *slog.Logger) error {
	var (
		rec *dump.Dump
		err error
	)
	if o.summary == "" {
		rec, err = dump.Sample()
	} else {
		rec, err = dump.Load(o.summary, o.pods, o.node)
	}
	if err != nil {
		return err
	}
	modelOpts, err := o.accounting.modelOptions()
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
	handler, err := server.Handler(server.Options{TelemetryPath: o.web.TelemetryPath, MaxRequests: o.web.MaxRequests, Timeout: time.Minute,
		Version: version.Info(), Ready: func() error { return nil }}, reg, storage, a, logger)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("replaying", "node", summary.Node.NodeName, "taken_at", rec.Time())
	return server.ListenAndServe(ctx, handler, o.web.Toolkit, logger)
}
