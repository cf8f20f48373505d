package advise

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	prommodel "github.com/prometheus/common/model"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// PrometheusSource observes a window of a Prometheus server's data through its HTTP API: instant
// queries at End over *_over_time functions, each usage series joined to
// ephemeral_storage_pod_info for its workload.
type PrometheusSource struct {
	API v1.API
	// URL describes the server in the report.
	URL    string
	Window time.Duration
	End    time.Time
	// Namespace keeps only this namespace when set.
	Namespace string
	// Selector holds extra label matchers for every series, e.g. `cluster="prod"`, with or
	// without braces. Their label names join usage to pod_info too, so one query may span
	// several clusters without mixing their pods.
	Selector string
}

// Queries are the PromQL the source runs, by purpose; exported for the documentation and tests.
type Queries struct {
	VolumePeak, VolumeSizeLimit                                      string
	ContainerPeak, ContainerRootfs, ContainerRequest, ContainerLimit string
	ContainerInfo, Evictions, ReadOnlyFailures                       string
}

// Queries builds the PromQL for the source's window, namespace and selector.
func (s *PrometheusSource) Queries() (Queries, error) {
	matchers, names, err := ParseSelector(s.Selector)
	if err != nil {
		return Queries{}, err
	}
	if s.Namespace != "" {
		matchers = append(matchers, fmt.Sprintf("namespace=%q", s.Namespace))
	}
	if s.Window <= 0 {
		return Queries{}, errors.New("the window must be positive")
	}
	window := promDuration(s.Window)
	sel := func(fixed ...string) string { return "{" + strings.Join(append(fixed, matchers...), ", ") + "}" }
	extra := ""
	for _, n := range names {
		if n != "namespace" && n != "pod" {
			extra += ", " + n
		}
	}
	// Each pod's workload over the window: max_over_time keeps pods that ended before End.
	podInfo := fmt.Sprintf("max by (namespace, pod, workload_kind, workload%s) (max_over_time(ephemeral_storage_pod_info%s[%s]))", extra, sel(), window)
	joined := func(fn, metric string, fixed []string, by string) string {
		return fmt.Sprintf("max by (namespace, workload_kind, workload, %s) (\n  %s(%s%s[%s])\n  * on (namespace, pod%s) group_left (workload_kind, workload)\n  %s\n)",
			by, fn, metric, sel(fixed...), window, extra, podInfo)
	}
	emptyDir := []string{`volume_type="empty_dir"`, `medium=~"disk|memory"`}
	// A counter's increase over the window; a series born inside the window (the first eviction
	// of a workload starts its series at 1, which increase() cannot see) counts from zero.
	counter := func(metric, by string) string {
		return fmt.Sprintf("sum by (namespace, workload_kind, workload, %s) (\n  (last_over_time(%s%s[%s]) unless %s%s offset %s)\n  or increase(%s%s[%s])\n)",
			by, metric, sel(), window, metric, sel(), window, metric, sel(), window)
	}
	return Queries{
		VolumePeak:       joined("max_over_time", "ephemeral_storage_volume_used_bytes", emptyDir, "volume, medium"),
		VolumeSizeLimit:  joined("last_over_time", "ephemeral_storage_volume_size_limit_bytes", emptyDir, "volume, medium"),
		ContainerPeak:    joined("max_over_time", "ephemeral_storage_container_usage_bytes", nil, "container"),
		ContainerRootfs:  joined("max_over_time", "ephemeral_storage_container_rootfs_bytes", nil, "container"),
		ContainerRequest: joined("last_over_time", "ephemeral_storage_container_request_bytes", nil, "container"),
		ContainerLimit:   joined("last_over_time", "ephemeral_storage_container_limit_bytes", nil, "container"),
		ContainerInfo:    joined("last_over_time", "ephemeral_storage_container_info", nil, "container, container_type, read_only_root_filesystem"),
		Evictions:        counter("ephemeral_storage_evictions_total", "cause"),
		ReadOnlyFailures: counter("ephemeral_storage_read_only_write_failures_total", "container"),
	}, nil
}

// Observe runs the queries at End.
func (s *PrometheusSource) Observe(ctx context.Context) (*Input, error) {
	q, err := s.Queries()
	if err != nil {
		return nil, err
	}
	end := s.End
	if end.IsZero() {
		end = time.Now()
	}
	in := &Input{Source: "prometheus " + s.URL, Window: s.Window, End: end, EvictionsKnown: true, ReadOnlyFailuresKnown: true}
	query := func(name, promql string) (prommodel.Vector, error) {
		v, warnings, _, err := s.API.Query(ctx, promql, end)
		if err != nil {
			return nil, fmt.Errorf("%s query: %w\n%s", name, err, promql)
		}
		for _, w := range warnings {
			in.Notes = append(in.Notes, name+": "+w)
		}
		vec, ok := v.(prommodel.Vector)
		if !ok {
			return nil, fmt.Errorf("%s query: want a vector, got %s", name, v.Type())
		}
		return vec, nil
	}

	type volKey struct{ w, volume, medium string }
	vols := map[volKey]*VolumeObservation{}
	volume := func(m prommodel.Metric) *VolumeObservation {
		k := volKey{workloadKey(m), string(m["volume"]), string(m["medium"])}
		if vols[k] == nil {
			vols[k] = &VolumeObservation{Workload: workloadOf(m), Volume: k.volume, Medium: k.medium}
		}
		return vols[k]
	}
	type ctrKey struct{ w, container string }
	ctrs := map[ctrKey]*ContainerObservation{}
	container := func(m prommodel.Metric) *ContainerObservation {
		k := ctrKey{workloadKey(m), string(m["container"])}
		if ctrs[k] == nil {
			ctrs[k] = &ContainerObservation{Workload: workloadOf(m), Container: k.container}
		}
		return ctrs[k]
	}
	steps := []struct {
		name, promql string
		apply        func(*prommodel.Sample)
	}{
		{"volume peak", q.VolumePeak, func(s *prommodel.Sample) { volume(s.Metric).Peak = model.Some(float64(s.Value)) }},
		{"volume size limit", q.VolumeSizeLimit, func(s *prommodel.Sample) { volume(s.Metric).SizeLimit = model.Some(float64(s.Value)) }},
		{"container peak", q.ContainerPeak, func(s *prommodel.Sample) { container(s.Metric).Peak = model.Some(float64(s.Value)) }},
		{"container rootfs", q.ContainerRootfs, func(s *prommodel.Sample) { container(s.Metric).RootfsPeak = model.Some(float64(s.Value)) }},
		{"container request", q.ContainerRequest, func(s *prommodel.Sample) { container(s.Metric).Request = model.Some(float64(s.Value)) }},
		{"container limit", q.ContainerLimit, func(s *prommodel.Sample) { container(s.Metric).Limit = model.Some(float64(s.Value)) }},
		{"container info", q.ContainerInfo, func(s *prommodel.Sample) {
			c := container(s.Metric)
			if t := string(s.Metric["container_type"]); t != "" {
				c.Type = t
			}
			// Read-only only if every pod of the window ran read-only.
			ro := model.Flag(s.Metric["read_only_root_filesystem"] == "true")
			if !c.ReadOnlyRoot.OK || ro.Value == 0 {
				c.ReadOnlyRoot = ro
			}
		}},
		{"evictions", q.Evictions, func(s *prommodel.Sample) {
			in.Evictions = append(in.Evictions, EvictionObservation{Workload: workloadOf(s.Metric), Cause: string(s.Metric["cause"]), Count: float64(s.Value)})
		}},
		{"read-only failures", q.ReadOnlyFailures, func(s *prommodel.Sample) {
			in.ReadOnlyFailures = append(in.ReadOnlyFailures, ReadOnlyFailureObservation{Workload: workloadOf(s.Metric), Container: string(s.Metric["container"]), Count: float64(s.Value)})
		}},
	}
	for _, step := range steps {
		vec, err := query(step.name, step.promql)
		if err != nil {
			return nil, err
		}
		for _, sample := range vec {
			step.apply(sample)
		}
	}
	for _, v := range vols {
		in.Volumes = append(in.Volumes, *v)
	}
	for _, c := range ctrs {
		in.Containers = append(in.Containers, *c)
	}
	return in, nil
}

func workloadOf(m prommodel.Metric) Workload {
	return Workload{Namespace: string(m["namespace"]), Kind: string(m["workload_kind"]), Name: string(m["workload"])}
}

func workloadKey(m prommodel.Metric) string {
	return string(m["namespace"]) + "\x00" + string(m["workload_kind"]) + "\x00" + string(m["workload"])
}

func promDuration(d time.Duration) string { return prommodel.Duration(d).String() }

// ParseWindow parses a Prometheus duration: 7d, 36h, 1w.
func ParseWindow(s string) (time.Duration, error) {
	d, err := prommodel.ParseDuration(s)
	return time.Duration(d), err
}

var (
	labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	matcherOp = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*`)
)

// ParseSelector splits label matchers (`cluster="prod", env=~"a|b"`, braces optional) into
// normalised matchers and the label names they use. It checks the syntax so a typo fails before
// any query does.
func ParseSelector(sel string) (matchers, names []string, err error) {
	sel = strings.TrimSpace(sel)
	sel = strings.TrimSuffix(strings.TrimPrefix(sel, "{"), "}")
	rest := sel
	for strings.TrimSpace(rest) != "" {
		m := matcherOp.FindStringSubmatch(rest)
		if m == nil {
			return nil, nil, fmt.Errorf("--selector %q: want label matchers like cluster=\"prod\"", sel)
		}
		name, op := m[1], m[2]
		rest = rest[len(m[0]):]
		if name == "__name__" || !labelName.MatchString(name) {
			return nil, nil, fmt.Errorf("--selector %q: bad label name %q", sel, name)
		}
		value, n, err := quoted(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("--selector %q: %w", sel, err)
		}
		rest = strings.TrimSpace(rest[n:])
		if rest != "" {
			if rest[0] != ',' {
				return nil, nil, fmt.Errorf("--selector %q: want a comma after %s%s%q", sel, name, op, value)
			}
			rest = rest[1:]
		}
		matchers = append(matchers, fmt.Sprintf("%s%s%q", name, op, value))
		names = append(names, name)
	}
	return matchers, names, nil
}

// quoted reads a "double" or 'single' quoted string at the start of s; it returns its value and
// how many bytes it took.
func quoted(s string) (string, int, error) {
	if s == "" || (s[0] != '"' && s[0] != '\'') {
		return "", 0, errors.New("want a quoted value")
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
		case c == q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated quoted value")
}
