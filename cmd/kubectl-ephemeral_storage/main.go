// Command kubectl-ephemeral_storage is a kubectl plugin: `kubectl ephemeral-storage top` and
// `kubectl ephemeral-storage du POD` show ephemeral-storage usage against the bounds the kubelet
// enforces, read through the API server's node proxy, with nothing installed on the cluster.
// The logic lives in package inspect; this file only wires flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/inspect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}

// run executes the plugin and returns its exit code.
func run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	cmd := newRootCommand(streams)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil && inspect.ExitCode(err) != inspect.ExitPartial {
		fmt.Fprintln(streams.ErrOut, "error:", err)
	}
	return inspect.ExitCode(err)
}

type options struct {
	config        *genericclioptions.ConfigFlags
	allNamespaces bool
	selector      string
	output        string
	sample        bool
	evictionHard  string
	imageFs       string
	concurrency   int
	nodeTimeout   time.Duration
	streams       genericiooptions.IOStreams
}

func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{config: genericclioptions.NewConfigFlags(true), streams: streams}
	root := &cobra.Command{
		Use:   "kubectl-ephemeral_storage",
		Short: "Ephemeral-storage usage against the bounds the kubelet evicts on",
		Long: `Shows which pods are closest to eviction for disk, against which bound, computed exactly as
the kubelet computes it, from each node's /stats/summary read through the API server's node
proxy. Nothing is installed on the cluster.

Needs (RBAC): get, list on nodes; get on nodes/proxy; get, list on pods.

Exit codes: 0 ok, 1 error, 2 bad usage, 3 partial results (some nodes could not be read).`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl ephemeral-storage"},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &inspect.UsageError{Err: err} })
	flags := root.PersistentFlags()
	o.config.AddFlags(flags)
	flags.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "Select pods in all namespaces.")
	flags.StringVarP(&o.selector, "selector", "l", "", "Label selector: of pods (top, top pods, du), of nodes (top nodes).")
	flags.StringVarP(&o.output, "output", "o", "", "Output format: wide, json or yaml.")
	flags.BoolVar(&o.sample, "sample", false, "Run on the embedded sample node instead of a cluster.")
	flags.StringVar(&o.evictionHard, "eviction-hard", accounting.DefaultEvictionHard, "The kubelets' hard eviction thresholds (--eviction-hard syntax), for the node signal rows.")
	flags.StringVar(&o.imageFs, "image-fs", string(model.ImageFsAuto), "Whether nodes have a dedicated image filesystem: auto, dedicated or shared.")
	flags.IntVar(&o.concurrency, "concurrency", 16, "Summaries read at once.")
	flags.DurationVar(&o.nodeTimeout, "node-timeout", 10*time.Second, "Time allowed to read one node's summary.")
	root.AddCommand(newTopCommand(o), newDuCommand(o))
	return root
}

func newTopCommand(o *options) *cobra.Command {
	t := inspect.TopOptions{}
	cmd := &cobra.Command{
		Use:   "top [pods|nodes]",
		Short: "Bounded usages sorted by how close they are to eviction",
		Long: `Prints one table of every bounded usage: pods against their limit, containers against theirs,
emptyDirs against their sizeLimit, and (without "pods") the nodes' hard eviction signals. A
ratio above 100% is an eviction. "top pods" leaves out node signals; "top nodes" shows only them.`,
		Example: `  # Which pods of the current namespace are closest to eviction for disk
  kubectl ephemeral-storage top pods

  # The whole cluster, node signals included, with the node column
  kubectl ephemeral-storage top -A -o wide

  # Take a second sample a minute later: growth rate and time to limit
  kubectl ephemeral-storage top pods -A --watch --interval=1m

  # Try it without a cluster, on the embedded sample node
  kubectl ephemeral-storage top --sample`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"pods", "nodes"},
		RunE: func(cmd *cobra.Command, args []string) error {
			what := ""
			if len(args) == 1 {
				what = args[0]
			}
			switch what {
			case "", "pods", "pod", "po":
				t.Selection = inspect.Selection{Pods: true, Signals: what == ""}
			case "nodes", "node", "no":
				t.Selection = inspect.Selection{Signals: true}
			default:
				return &inspect.UsageError{Err: fmt.Errorf("top %q: want pods or nodes", what)}
			}
			t.Output = o.output
			scope, err := o.scope(cmd, t.Selection)
			if err != nil {
				return err
			}
			t.Scope = scope
			src, err := o.source()
			if err != nil {
				return err
			}
			if o.sample && t.Watch {
				return &inspect.UsageError{Err: fmt.Errorf("--watch needs a live cluster: the sample does not change")}
			}
			return inspect.RunTop(cmd.Context(), src, t, o.streams.Out, o.streams.ErrOut)
		},
	}
	cmd.Flags().StringVar(&t.SortBy, "sort-by", inspect.SortRatio, "Order: ratio, usage, limit or name.")
	cmd.Flags().BoolVarP(&t.Watch, "watch", "w", false, "Sample twice, --interval apart, and add growth rate and time to limit.")
	// The kubelet refreshes volume stats once a minute (--volume-stats-agg-period): a shorter
	// interval mostly measures no growth.
	cmd.Flags().DurationVar(&t.Interval, "interval", time.Minute, "Time between the two samples of --watch.")
	return cmd
}

func newDuCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "du POD",
		Short: "Where one pod's ephemeral storage is: per volume and per container",
		Long: `Breaks one pod's ephemeral storage down the way the kubelet counts it: each emptyDir with its
sizeLimit and medium, each container's writable layer and logs, and the pod total against the
pod limit. No exec, no shell in the image needed.`,
		Example: `  # The breakdown of one pod in the current namespace
  kubectl ephemeral-storage du web-5d8f7c9b4-x2k9p

  # Of a pod of the sample node
  kubectl ephemeral-storage du --sample -n db postgres-0`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &inspect.UsageError{Err: fmt.Errorf("du takes exactly one pod name, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			scope, err := o.scope(cmd, inspect.Selection{Pods: true})
			if err != nil {
				return err
			}
			if scope.Namespace == "" {
				return &inspect.UsageError{Err: fmt.Errorf("du needs one namespace: use -n, not -A")}
			}
			src, err := o.source()
			if err != nil {
				return err
			}
			return inspect.RunDu(cmd.Context(), src, scope.Namespace, args[0], o.output, o.streams.Out)
		},
	}
}

// scope resolves the namespace as kubectl does (-A, else -n, else the context's namespace) and
// applies -l to pods or nodes.
func (o *options) scope(cmd *cobra.Command, sel inspect.Selection) (inspect.Scope, error) {
	s := inspect.Scope{Pods: sel.Pods, AllNodes: sel.Signals}
	if sel.Pods {
		s.PodSelector = o.selector
	} else {
		s.NodeSelector = o.selector
	}
	if o.allNamespaces {
		return s, nil
	}
	if o.sample {
		// The sample has no kubeconfig context: all its namespaces unless -n says one.
		if cmd.Flags().Changed("namespace") {
			s.Namespace = *o.config.Namespace
		}
		return s, nil
	}
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return s, err
	}
	s.Namespace = ns
	return s, nil
}

func (o *options) modelOptions() (model.Options, error) {
	thresholds, err := accounting.ParseThresholds(o.evictionHard)
	if err != nil {
		return model.Options{}, &inspect.UsageError{Err: err}
	}
	switch model.ImageFsMode(o.imageFs) {
	case model.ImageFsAuto, model.ImageFsDedicated, model.ImageFsShared:
	default:
		return model.Options{}, &inspect.UsageError{Err: fmt.Errorf("--image-fs=%q: want auto, dedicated or shared", o.imageFs)}
	}
	return model.Options{ImageFs: model.ImageFsMode(o.imageFs), Thresholds: thresholds}, nil
}

func (o *options) source() (inspect.Source, error) {
	opts, err := o.modelOptions()
	if err != nil {
		return nil, err
	}
	if o.sample {
		d, err := dump.Sample()
		if err != nil {
			return nil, err
		}
		return &inspect.Sample{Dump: d, Model: opts}, nil
	}
	if o.concurrency < 1 {
		return nil, &inspect.UsageError{Err: fmt.Errorf("--concurrency must be at least 1")}
	}
	config, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	// --concurrency already bounds the requests in flight, and the API server's priority and
	// fairness protects it; client-go's default 5 QPS would make 1,000 nodes take over 3 minutes.
	config.QPS = -1 // negative disables client-side rate limiting (rest.Config.QPS)
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &inspect.Cluster{
		Client: client, Model: opts, Concurrency: o.concurrency, NodeTimeout: o.nodeTimeout,
		Progress: progressLine(o.streams.ErrOut),
	}, nil
}

// progressLine shows "nodes done/total" on a terminal, and nothing when stderr is redirected.
func progressLine(w io.Writer) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\rreading nodes %d/%d", done, total)
		if done == total {
			fmt.Fprint(w, "\r\033[K")
		}
	}
}
