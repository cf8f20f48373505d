package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/advise"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/internal/cli"
)

// source picks the source the flags name (Validate has checked that there is exactly one);
// --from-events has none.
func (o *adviseOptions) source() (advise.Source, error) {
	if o.fromEvents {
		return nil, nil
	}
	if o.prometheusURL != "" {
		window, err := advise.ParseWindow(o.window)
		if err != nil {
			return nil, fmt.Errorf("--window: %w", err)
		}
		var end time.Time
		if o.end != "" {
			if end, err = time.Parse(time.RFC3339, o.end); err != nil {
				return nil, fmt.Errorf("--end: %w", err)
			}
		}
		client, err := api.NewClient(api.Config{Address: o.prometheusURL})
		if err != nil {
			return nil, fmt.Errorf("--prometheus.url: %w", err)
		}
		src := &advise.PrometheusSource{API: v1.NewAPI(client), URL: o.prometheusURL, Window: window, End: end,
			Namespace: o.namespace, Selector: o.selector}
		if _, err := src.Queries(); err != nil {
			return nil, err
		}
		return src, nil
	}
	modelOpts, err := o.accounting.modelOptions()
	if err != nil {
		return nil, err
	}
	var (
		rec  *dump.Dump
		name string
	)
	if o.sample {
		name = "embedded sample"
		rec, err = dump.Sample()
	} else {
		name = o.summary
		rec, err = dump.Load(o.summary, o.pods, o.node)
	}
	if err != nil {
		return nil, err
	}
	return &advise.DumpSource{Dump: rec, Options: modelOpts, Name: name, Namespace: o.namespace}, nil
}

func runAdvise(o *adviseOptions, out io.Writer) error {
	src, err := o.source()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.fromEvents {
		return readOnlyAdvice(ctx, o, out)
	}
	in, err := src.Observe(ctx)
	if err != nil {
		return err
	}
	sizing := advise.DefaultSizing()
	sizing.Headroom = o.headroom
	if o.kubeletConfig != "" {
		raw, err := os.ReadFile(o.kubeletConfig)
		if err != nil {
			return fmt.Errorf("--kubelet.config: %w", err)
		}
		if sizing.LogRotation, err = advise.ParseLogRotation(raw, o.kubeletConfig); err != nil {
			return fmt.Errorf("--kubelet.config: %w", err)
		}
	}
	return advise.Analyze(in, sizing).Write(out, o.output)
}

// maxEventPages bounds the listing of hint Events (500 a page).
const maxEventPages = 100

// readOnlyAdvice lists the agent's ReadOnlyWriteFailed Events and writes the mounts that fix them.
func readOnlyAdvice(ctx context.Context, o *adviseOptions, out io.Writer) error {
	_, client, err := cli.APIServerClient(o.kubeconfig)
	if err != nil {
		return err
	}
	list := client.ListFunc("events")
	var events []corev1.Event
	opts := metav1.ListOptions{FieldSelector: "reason=" + detect.ReadOnlyHintReason, Limit: 500}
	for range maxEventPages {
		obj, err := list(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing %s Events: %w", detect.ReadOnlyHintReason, err)
		}
		page, ok := obj.(*corev1.EventList)
		if !ok {
			return fmt.Errorf("listing Events: got %T", obj)
		}
		for _, ev := range page.Items {
			if o.namespace == "" || ev.Namespace == o.namespace {
				events = append(events, ev)
			}
		}
		if opts.Continue = page.Continue; opts.Continue == "" {
			break
		}
	}
	mounts := advise.ReadOnlyMounts(advise.FailedWritesFromEvents(events))
	switch o.output {
	case advise.FormatJSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(mounts)
	case advise.FormatPatch:
		return advise.WriteReadOnlyPatches(out, mounts)
	}
	return advise.WriteReadOnlyTable(out, mounts)
}
