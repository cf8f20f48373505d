// Command prom-scale prepares the inputs of hack/prom-scale/run.sh (`make prom-scale`): a
// synthetic node's saved summary, pods and node object for the agent's `replay`, and, from the
// /metrics bodies the real agent served for that node, an OpenMetrics file of a whole cluster for
// `promtool tsdb create-blocks-from openmetrics`.
//
//	prom-scale dump -pods 110 -seed 1 -out DIR
//	prom-scale count < metrics.txt
//	prom-scale openmetrics -nodes 1000 -samples 10 -interval 30s -end UNIX -families F -out FILE m1.txt m2.txt ...
//	prom-scale serve -nodes 1000 -listen 127.0.0.1:PORT -families F m.txt
//
// serve answers /metrics/N with node N's copy of the exposition (the same copy openmetrics
// writes, without the target labels, which the scraping Prometheus adds), for a Prometheus that
// scrapes the cluster into its head, as in production.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: prom-scale dump|count|openmetrics [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "dump":
		err = dump(os.Args[2:])
	case "count":
		err = count(os.Stdin, os.Stdout)
	case "openmetrics":
		err = openMetrics(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "prom-scale:", err)
		os.Exit(1)
	}
}

// dump writes the synthetic node with n pods as the files `replay` reads.
func dump(args []string) error {
	fs := flag.NewFlagSet("dump", flag.ExitOnError)
	pods := fs.Int("pods", 110, "pods on the node")
	seed := fs.Uint64("seed", 1, "varies usage")
	out := fs.String("out", "", "directory")
	_ = fs.Parse(args)
	if *out == "" || *pods <= 0 || *pods > 1000 {
		return errors.New("dump: -out and 0 < -pods <= 1000 required")
	}
	n := synthetic.Generate(*pods, *seed)
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
	for _, p := range n.Pods {
		list.Items = append(list.Items, *p)
	}
	n.Node.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}
	for name, v := range map[string]any{"summary.json": n.Summary, "pods.json": list, "node.json": n.Node} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sample is one line of a text exposition: family (the metric name), labels (inside the braces)
// and value.
type sample struct{ name, labels, value string }

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)

// parse reads the samples of a Prometheus text exposition (comments skipped).
func parse(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("not a sample line: %.120q", line)
		}
		out = append(out, sample{m[1], m[2], m[3]})
	}
	return out, sc.Err()
}

// count prints the number of series, in total and by metric family prefix.
func count(r io.Reader, w io.Writer) error {
	samples, err := parse(r)
	if err != nil {
		return err
	}
	by := map[string]int{}
	for _, s := range samples {
		by[group(s.name)]++
	}
	fmt.Fprintf(w, "total %d\n", len(samples))
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s %d\n", k, by[k])
	}
	return nil
}

// group names the object level of a family: ephemeral_storage_<level>_..., the agent's own
// ephemeral_storage_exporter_..., or other (Go runtime, process).
func group(name string) string {
	for _, g := range []string{"ephemeral_storage_exporter_", "ephemeral_storage_pod_", "ephemeral_storage_container_", "ephemeral_storage_volume_", "ephemeral_storage_node_"} {
		if strings.HasPrefix(name, g) {
			return strings.TrimSuffix(g, "_")
		}
	}
	if strings.HasPrefix(name, "ephemeral_storage_") {
		return "ephemeral_storage_other"
	}
	return "other"
}

// openMetrics writes nodes copies of the agent's exposition as one cluster: node N's copy has
// node="scale-N", instance and job as Prometheus would add them, cluster="scale", and its pod
// names prefixed with its node (pods are unique per cluster). Sample k (of -samples, -interval
// apart, the last at -end) takes its values from body k mod len(bodies). Only the families named
// in -families (one per line; the ones the rules read) are written: the others cost the rules
// nothing. OpenMetrics wants each family, and each series, contiguous, and samples in time order.
func openMetrics(args []string) error {
	fs := flag.NewFlagSet("openmetrics", flag.ExitOnError)
	nodes := fs.Int("nodes", 1000, "nodes in the cluster")
	samples := fs.Int("samples", 10, "samples per series")
	interval := fs.Duration("interval", 30*time.Second, "scrape interval")
	end := fs.Int64("end", time.Now().Unix(), "unix time of the last sample")
	familiesFile := fs.String("families", "", "file with the families to keep, one per line")
	out := fs.String("out", "", "output file")
	_ = fs.Parse(args)
	if *nodes <= 0 || *nodes > 10000 || *samples <= 0 || *samples > 1000 || *interval <= 0 || *out == "" || fs.NArg() == 0 {
		return errors.New("openmetrics: 0 < -nodes <= 10000, 0 < -samples <= 1000, -interval > 0, -out and at least one exposition file required")
	}
	keep := map[string]bool{}
	if *familiesFile != "" {
		raw, err := os.ReadFile(*familiesFile)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(raw)) {
			keep[f] = true
		}
	}
	// bodies[i]: series -> value, all bodies over the same series (the same node, other seeds).
	var bodies []map[string]string
	var series []sample // order of the first body, families contiguous
	for i, path := range fs.Args() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		s, err := parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		values := map[string]string{}
		for _, x := range s {
			if len(keep) > 0 && !keep[x.name] {
				continue
			}
			values[x.name+"{"+x.labels+"}"] = x.value
			if i == 0 {
				series = append(series, x)
			}
		}
		bodies = append(bodies, values)
	}
	sort.SliceStable(series, func(a, b int) bool { return series[a].name < series[b].name })

	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	podLabel := regexp.MustCompile(`(^|,)pod="`)
	written := 0
	for i := 0; i < len(series); {
		name := series[i].name
		fmt.Fprintf(w, "# TYPE %s unknown\n", name)
		j := i
		for ; j < len(series) && series[j].name == name; j++ {
		}
		for n := 0; n < *nodes; n++ {
			node := fmt.Sprintf("scale-%04d", n)
			target := fmt.Sprintf(`cluster="scale",job="ephemeral-storage-exporter",instance="10.0.%d.%d:9847"`, n/250, n%250)
			for _, s := range series[i:j] {
				labels := strings.ReplaceAll(s.labels, `node="`+synthetic.NodeName+`"`, `node="`+node+`"`)
				labels = podLabel.ReplaceAllString(labels, `${1}pod="`+node+"-")
				if labels != "" {
					labels += ","
				}
				labels += target
				key := s.name + "{" + s.labels + "}"
				for k := range *samples {
					v, ok := bodies[k%len(bodies)][key]
					if !ok {
						v = s.value
					}
					ts := *end - int64(*samples-1-k)*int64(*interval/time.Second)
					fmt.Fprintf(w, "%s{%s} %s %d\n", s.name, labels, v, ts)
					written++
				}
			}
		}
		i = j
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d samples of %d series (%d per node) to %s\n", written, len(series)**nodes, len(series), *out)
	return f.Close()
}

// serve answers /metrics/N for N < -nodes on a loopback address.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	nodes := fs.Int("nodes", 1000, "nodes in the cluster")
	listen := fs.String("listen", "127.0.0.1:19486", "loopback address")
	familiesFile := fs.String("families", "", "file with the families to keep, one per line")
	_ = fs.Parse(args)
	if !strings.HasPrefix(*listen, "127.") || fs.NArg() != 1 || *nodes <= 0 || *nodes > 10000 {
		return errors.New("serve: a 127.x -listen address, 0 < -nodes <= 10000 and one exposition file")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	if *familiesFile != "" {
		f, err := os.ReadFile(*familiesFile)
		if err != nil {
			return err
		}
		for _, x := range strings.Fields(string(f)) {
			keep[x] = true
		}
	}
	samples, err := parse(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	var body strings.Builder
	for _, s := range samples {
		if len(keep) == 0 || keep[s.name] {
			fmt.Fprintf(&body, "%s{%s} %s\n", s.name, s.labels, s.value)
		}
	}
	base := body.String()
	podLabel := regexp.MustCompile(`([{,])pod="`)
	http.HandleFunc("/metrics/", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/metrics/"))
		if err != nil || n < 0 || n >= *nodes {
			http.NotFound(w, r)
			return
		}
		node := fmt.Sprintf("scale-%04d", n)
		b := strings.ReplaceAll(base, `node="`+synthetic.NodeName+`"`, `node="`+node+`"`)
		b = podLabel.ReplaceAllString(b, `${1}pod="`+node+"-")
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, b)
	})
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
