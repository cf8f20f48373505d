package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/advise"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

// adviseOptions are the flags of `advise`.
type adviseOptions struct {
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
}

func adviseFlags(cmd *kingpin.CmdClause) *adviseOptions {
	o := &adviseOptions{}
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
	return o
}

// source picks the source the flags name: exactly one of --prometheus.url, --summary, --sample.
func (o *adviseOptions) source(c *common) (advise.Source, error) {
	chosen := 0
	for _, set := range []bool{o.prometheusURL != "", o.summary != "", o.sample, o.fromEvents} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return nil, errors.New("advise needs exactly one of --prometheus.url, --summary (with --pods), --sample or --from-events")
	}
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
	modelOpts, err := c.modelOptions()
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
		if o.pods == "" {
			return nil, errors.New("--pods is required with --summary")
		}
		name = o.summary
		rec, err = dump.Load(o.summary, o.pods, o.node)
	}
	if err != nil {
		return nil, err
	}
	return &advise.DumpSource{Dump: rec, Options: modelOpts, Name: name, Namespace: o.namespace}, nil
}

func runAdvise(c *common, o *adviseOptions, out io.Writer) error {
	if o.headroom < 1 {
		return fmt.Errorf("--headroom %v: below 1 would suggest a sizeLimit under the observed peak", o.headroom)
	}
	src, err := o.source(c)
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
	return advise.Analyze(in, sizing).Write(out, o.output)
}

// maxEventPages bounds the listing of hint Events (500 a page).
const maxEventPages = 100

// readOnlyAdvice lists the agent's ReadOnlyWriteFailed Events and writes the mounts that fix them.
func readOnlyAdvice(ctx context.Context, o *adviseOptions, out io.Writer) error {
	restConfig, err := apiServerConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kube.NewClient(restConfig)
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
