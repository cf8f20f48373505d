package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// alertDef is one alert. A definition with both warning and critical params renders two rules of
// the same name, one per severity; Threshold in the template is the severity's threshold.
type alertDef struct {
	Name     string
	Group    string
	Severity string // when the alert has a single severity
	Params   []string
	Expr     string // template, [[ ]] delimiters, see tmplData
	Summary  string
	Desc     string
	// Workload joins the result with ephemeral_storage_pod_info on (cluster, namespace, pod),
	// adding workload_kind and workload. Pods without pod_info (gone) never alert.
	Workload bool
}

const (
	groupVolumes    = "ephemeral-storage-exporter.volumes"
	groupContainers = "ephemeral-storage-exporter.containers"
	groupNodes      = "ephemeral-storage-exporter.nodes"
	groupExporter   = "ephemeral-storage-exporter.exporter"
	groupCapacity   = "ephemeral-storage-exporter.capacity"
)

// alertDefs is every alert, in rendering order.
var alertDefs = []alertDef{
	{
		Name: "EmptyDirNearSizeLimit", Group: groupVolumes, Params: []string{"warning", "for", "critical", "critical_for"},
		Expr:     `ephemeral_storage_volume_size_limit_ratio{[[.S]], volume_type="empty_dir", medium="disk"} > [[num .Threshold]]`,
		Workload: true,
		Summary:  "An emptyDir volume is close to its sizeLimit; the kubelet evicts the pod when it passes it.",
		Desc: `emptyDir {{ $labels.volume }} of pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`uses {{ $value | humanizePercentage }} of its sizeLimit. The kubelet evicts the pod, without graceful shutdown, as soon as usage passes 100%.`,
	},
	{
		Name: "EmptyDirFillingUp", Group: groupVolumes, Severity: "warning", Params: []string{"range", "horizon", "min_ratio", "min_bytes", "for"},
		Expr: `ephemeral_storage_volume_size_limit_ratio{[[.S]], volume_type="empty_dir", medium="disk"} > [[num .P.MinRatio]]
and on ([[.C]]node, namespace, pod, volume)
  ephemeral_storage_volume_size_limit_bytes{[[.S]], volume_type="empty_dir", medium="disk"} >= [[num .P.MinBytes]]
and on ([[.C]]node, namespace, pod, volume)
(
  predict_linear(ephemeral_storage_volume_used_bytes{[[.S]], volume_type="empty_dir", medium="disk"}[[rng .P.Range]], [[secs .P.Horizon]])
  > on ([[.C]]node, namespace, pod, volume)
  ephemeral_storage_volume_size_limit_bytes{[[.S]], volume_type="empty_dir", medium="disk"}
)`,
		Workload: true,
		Summary:  "An emptyDir volume is predicted to pass its sizeLimit within [[.P.Horizon]].",
		Desc: `emptyDir {{ $labels.volume }} of pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`uses {{ $value | humanizePercentage }} of its sizeLimit and, growing as over the last [[.P.Range]], passes it within [[.P.Horizon]]; the kubelet then evicts the pod.`,
	},
	{
		Name: "MemoryEmptyDirNearSizeLimit", Group: groupVolumes, Severity: "warning", Params: []string{"warning", "min_bytes", "for"},
		Expr: `ephemeral_storage_volume_size_limit_ratio{[[.S]], volume_type="empty_dir", medium="memory"} > [[num .Threshold]]
and on ([[.C]]node, namespace, pod, volume)
  ephemeral_storage_volume_used_bytes{[[.S]], volume_type="empty_dir", medium="memory"} >= [[num .P.MinBytes]]`,
		Workload: true,
		Summary:  "A memory-backed emptyDir (tmpfs) takes a large share of the memory its pod may use.",
		Desc: `memory emptyDir {{ $labels.volume }} of pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`is {{ $value | humanizePercentage }} full. Its size is min(sizeLimit, pod memory limit, node allocatable memory), and its pages count against the container memory limit: ` +
			`at 100% writes fail with ENOSPC, and the memory left for the application shrinks (OOM kill risk).`,
	},
	{
		Name: "ContainerNearEphemeralStorageLimit", Group: groupContainers, Params: []string{"warning", "for", "critical", "critical_for"},
		Expr:     `ephemeral_storage_container_limit_ratio{[[.S]]} > [[num .Threshold]]`,
		Workload: true,
		Summary:  "A container is close to its ephemeral-storage limit; the kubelet evicts the pod when it passes it.",
		Desc: `container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`uses {{ $value | humanizePercentage }} of its ephemeral-storage limit (logs, plus the writable layer when the node has no dedicated imagefs). The kubelet evicts the pod as soon as usage passes 100%.`,
	},
	{
		Name: "ContainerEphemeralStorageFillingUp", Group: groupContainers, Severity: "warning", Params: []string{"range", "horizon", "min_ratio", "min_bytes", "for"},
		Expr: `ephemeral_storage_container_limit_ratio{[[.S]]} > [[num .P.MinRatio]]
and on ([[.C]]node, namespace, pod, container)
  ephemeral_storage_container_limit_bytes{[[.S]]} >= [[num .P.MinBytes]]
and on ([[.C]]node, namespace, pod, container)
(
  predict_linear(ephemeral_storage_container_usage_bytes{[[.S]]}[[rng .P.Range]], [[secs .P.Horizon]])
  > on ([[.C]]node, namespace, pod, container)
  ephemeral_storage_container_limit_bytes{[[.S]]}
)`,
		Workload: true,
		Summary:  "A container is predicted to pass its ephemeral-storage limit within [[.P.Horizon]].",
		Desc: `container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`uses {{ $value | humanizePercentage }} of its ephemeral-storage limit and, growing as over the last [[.P.Range]], passes it within [[.P.Horizon]]; the kubelet then evicts the pod.`,
	},
	{
		Name: "ContainerWritableLayerDrift", Group: groupContainers, Severity: "info", Params: []string{"range", "min_bytes", "for"},
		Expr: `delta(ephemeral_storage_container_rootfs_bytes{[[.S]]}[[rng .P.Range]]) > [[num .P.MinBytes]]
and on ([[.C]]node, namespace, pod, container)
  ephemeral_storage_container_info{[[.S]], read_only_root_filesystem="false"}`,
		Workload: true,
		Summary:  "A container without readOnlyRootFilesystem keeps writing to its writable layer.",
		Desc: `container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`wrote {{ $value | humanize1024 }}B to its writable layer in the last [[.P.Range]]. Mount a volume at the paths it writes to and set readOnlyRootFilesystem: true.`,
	},
	{
		Name: "PodNearEphemeralStorageLimit", Group: groupContainers, Params: []string{"warning", "for", "critical", "critical_for"},
		Expr:     `ephemeral_storage_pod_limit_ratio{[[.S]]} > [[num .Threshold]]`,
		Workload: true,
		Summary:  "A pod is close to its total ephemeral-storage limit; the kubelet evicts it when it passes it.",
		Desc: `pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`uses {{ $value | humanizePercentage }} of the sum of its containers' ephemeral-storage limits (container logs and writable layers, disk emptyDirs). The kubelet evicts the pod as soon as usage passes 100%.`,
	},
	{
		Name: "PodEphemeralStorageFillingUp", Group: groupContainers, Severity: "warning", Params: []string{"range", "horizon", "min_ratio", "min_bytes", "for"},
		Expr: `ephemeral_storage_pod_limit_ratio{[[.S]]} > [[num .P.MinRatio]]
and on ([[.C]]node, namespace, pod)
  ephemeral_storage_pod_limit_bytes{[[.S]]} >= [[num .P.MinBytes]]
and on ([[.C]]node, namespace, pod)
(
  predict_linear(ephemeral_storage_pod_usage_bytes{[[.S]]}[[rng .P.Range]], [[secs .P.Horizon]])
  > on ([[.C]]node, namespace, pod)
  ephemeral_storage_pod_limit_bytes{[[.S]]}
)`,
		Workload: true,
		Summary:  "A pod is predicted to pass its ephemeral-storage limit within [[.P.Horizon]].",
		Desc: `pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }} ` +
			`uses {{ $value | humanizePercentage }} of its ephemeral-storage limit and, growing as over the last [[.P.Range]], passes it within [[.P.Horizon]]; the kubelet then evicts the pod.`,
	},
	{
		Name: "PodEvictedForStorage", Group: groupContainers, Severity: "warning", Params: []string{"window"},
		// A counter series is created at its first event: increase() cannot see that one, so a
		// series that did not exist a window ago counts with its whole value, provided the
		// node's agent was already reporting then (not after a Prometheus restart, on a new node).
		Expr: `sum by ([[.C]]node, namespace, workload_kind, workload, cause, volume, container, resource) (
  (
    ephemeral_storage_evictions_total{[[.S]]} unless ephemeral_storage_evictions_total{[[.S]]} offset [[.P.Window]]
    and on ([[.C]]node) group by ([[.C]]node) (ephemeral_storage_exporter_kubelet_up{[[.S]]} offset [[.P.Window]])
  )
  or
  increase(ephemeral_storage_evictions_total{[[.S]]}[[rng .P.Window]]) > 0
)`,
		Summary: "The kubelet evicted pods for local ephemeral storage.",
		Desc: `The kubelet on node {{ $labels.node }} evicted {{ $value | humanize }} pod(s) of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} in the last [[.P.Window]], ` +
			`cause {{ $labels.cause }}{{ if $labels.volume }}, emptyDir {{ $labels.volume }}{{ end }}{{ if $labels.container }}, container {{ $labels.container }}{{ end }}{{ if $labels.resource }}, starved resource {{ $labels.resource }}{{ end }}.`,
	},
	{
		Name: "ReadOnlyFilesystemWriteFailures", Group: groupContainers, Severity: "warning", Params: []string{"window"},
		Expr: `sum by ([[.C]]node, namespace, workload_kind, workload, container) (
  (
    ephemeral_storage_read_only_write_failures_total{[[.S]]} unless ephemeral_storage_read_only_write_failures_total{[[.S]]} offset [[.P.Window]]
    and on ([[.C]]node) group by ([[.C]]node) (ephemeral_storage_exporter_kubelet_up{[[.S]]} offset [[.P.Window]])
  )
  or
  increase(ephemeral_storage_read_only_write_failures_total{[[.S]]}[[rng .P.Window]]) > 0
)`,
		Summary: "A container fails to write: Read-only file system.",
		Desc: `container {{ $labels.container }} of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} on node {{ $labels.node }} ` +
			`hit {{ $value | humanize }} write failure(s) with "Read-only file system" (EROFS) in the last [[.P.Window]]: it writes to a path that is not a mounted volume while its root filesystem is read-only.`,
	},
	{
		Name: "NodeFilesystemNearEvictionThreshold", Group: groupNodes, Params: []string{"warning", "for", "critical", "critical_for"},
		Expr:    `ephemeral_storage_node_eviction_threshold_ratio{[[.S]]} > [[num .Threshold]]`,
		Summary: "A node filesystem approaches the kubelet's hard eviction threshold.",
		Desc: `Signal {{ $labels.signal }} on node {{ $labels.node }} is at {{ $value | humanizePercentage }} of the usage at which the kubelet's hard eviction threshold is met. ` +
			`Past 100% the node gets DiskPressure and the kubelet evicts pods.`,
	},
	{
		Name: "NodeFilesystemFillingUp", Group: groupNodes, Severity: "warning", Params: []string{"range", "horizon", "min_ratio", "for"},
		Expr: `ephemeral_storage_node_fs_available_bytes{[[.S]]}
and on ([[.C]]node, fs)
  label_replace(ephemeral_storage_node_eviction_threshold_ratio{[[.S]], signal=~".+\\.available"}, "fs", "$1", "signal", "(.+)\\.available") > [[num .P.MinRatio]]
and on ([[.C]]node, fs)
(
  predict_linear(ephemeral_storage_node_fs_available_bytes{[[.S]]}[[rng .P.Range]], [[secs .P.Horizon]])
  < on ([[.C]]node, fs)
  label_replace(ephemeral_storage_node_eviction_threshold_bytes{[[.S]], signal=~".+\\.available"}, "fs", "$1", "signal", "(.+)\\.available")
)`,
		Summary: "A node filesystem is predicted to reach the kubelet's eviction threshold within [[.P.Horizon]].",
		Desc: `{{ $labels.fs }} on node {{ $labels.node }} has {{ $value | humanize1024 }}B available and, shrinking as over the last [[.P.Range]], reaches the {{ $labels.fs }}.available hard eviction threshold within [[.P.Horizon]]; ` +
			`the node then gets DiskPressure and the kubelet evicts pods.`,
	},
	{
		Name: "NodeDiskPressure", Group: groupNodes, Severity: "critical", Params: []string{"for"},
		Expr:    `ephemeral_storage_node_disk_pressure{[[.S]]} == 1`,
		Summary: "A node has the DiskPressure condition; the kubelet is evicting pods.",
		Desc:    `Node {{ $labels.node }} has had DiskPressure for [[.P.For]]: a nodefs or imagefs eviction threshold is met, the kubelet evicts pods and admits no new BestEffort pods.`,
	},
	{
		Name: "ExporterKubeletUnreachable", Group: groupExporter, Severity: "warning", Params: []string{"for"},
		Expr:    `ephemeral_storage_exporter_kubelet_up{[[.S]]} == 0`,
		Summary: "ephemeral-storage-exporter cannot read the kubelet summary.",
		Desc:    `The agent on node {{ $labels.node }} has failed to read the kubelet's /stats/summary for [[.P.For]]: storage usage on this node is not monitored. See ephemeral_storage_exporter_kubelet_errors_total for the kind of error.`,
	},
	{
		Name: "ExporterDataStale", Group: groupExporter, Severity: "warning", Params: []string{"max_seconds", "for"},
		Expr:    `ephemeral_storage_exporter_data_age_seconds{[[.S]]} > [[num .P.MaxSeconds]]`,
		Summary: "ephemeral-storage-exporter serves old storage data.",
		Desc:    `The storage series of node {{ $labels.node }} come from a kubelet summary {{ $value | humanizeDuration }} old; they are dropped once it passes --kubelet.max-staleness.`,
	},
	{
		Name: "ExporterDown", Group: groupExporter, Severity: "warning", Params: []string{"for"},
		Expr:    `up{[[.S]]} == 0`,
		Summary: "Prometheus cannot scrape an ephemeral-storage-exporter agent.",
		Desc:    `Target {{ $labels.instance }} has been down for [[.P.For]]: storage usage and evictions on its node are not monitored.`,
	},
	{
		Name: "ExporterAbsent", Group: groupExporter, Severity: "critical", Params: []string{"for"},
		Expr:    `absent(up{[[.S]]})`,
		Summary: "No ephemeral-storage-exporter target is discovered.",
		Desc:    `Prometheus has had no target of ephemeral-storage-exporter for [[.P.For]]: no node's ephemeral storage is monitored and no storage alert can fire.`,
	},
}

// Rule and Group are the Prometheus rules file format, in its key order.
type Rule struct {
	Record      string            `yaml:"record,omitempty" json:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty" json:"alert,omitempty"`
	Expr        string            `yaml:"expr" json:"expr"`
	For         string            `yaml:"for,omitempty" json:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations *Annotations      `yaml:"annotations,omitempty" json:"annotations,omitempty"`
}

type Annotations struct {
	Summary     string `yaml:"summary" json:"summary"`
	Description string `yaml:"description" json:"description"`
	RunbookURL  string `yaml:"runbook_url" json:"runbook_url"`
}

type Group struct {
	Name  string `yaml:"name" json:"name"`
	Rules []Rule `yaml:"rules" json:"rules"`
}

type tmplData struct {
	S         string // the job matcher
	C         string // "cluster, " or ""
	P         *AlertParams
	Threshold float64
	R         any
}

func (c *Config) data() tmplData {
	d := tmplData{S: c.Selectors.Job, R: c.Recording}
	if c.Selectors.ClusterLabel != "" {
		d.C = c.Selectors.ClusterLabel + ", "
	}
	return d
}

var funcs = template.FuncMap{
	"num": func(v any) string {
		switch f := v.(type) {
		case *float64:
			return strconv.FormatFloat(*f, 'f', -1, 64)
		case float64:
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		panic(fmt.Sprintf("num: %T", v))
	},
	"rng": func(d string) string { return "[" + d + "]" },
	"secs": func(d string) string {
		md, err := model.ParseDuration(d)
		if err != nil {
			panic(err)
		}
		return strconv.FormatInt(int64(time.Duration(md)/time.Second), 10)
	},
}

func render(tmpl string, data any) string {
	t := template.Must(template.New("").Delims("[[", "]]").Funcs(funcs).Option("missingkey=error").Parse(tmpl))
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		panic(err)
	}
	return b.String()
}

// withWorkload adds workload_kind and workload from ephemeral_storage_pod_info.
func (c *Config) withWorkload(expr string) string {
	d := c.data()
	return "(\n" + indent(expr) + "\n)\n" + render(`* on ([[.C]]namespace, pod) group_left (workload_kind, workload)
  max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]})`, d)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// Groups renders every rule group: alerts first, then the capacity recording rules.
func (c *Config) Groups() ([]Group, error) {
	if err := c.checkParams(alertDefs); err != nil {
		return nil, err
	}
	var groups []Group
	idx := map[string]int{}
	add := func(group string, r Rule) {
		i, ok := idx[group]
		if !ok {
			i = len(groups)
			idx[group] = i
			groups = append(groups, Group{Name: group})
		}
		groups[i].Rules = append(groups[i].Rules, r)
	}
	for _, def := range alertDefs {
		p := c.Alerts[def.Name]
		type variant struct {
			sev       string
			threshold float64
			forDur    string
		}
		var vs []variant
		switch {
		case p.Warning != nil && p.Critical != nil:
			vs = []variant{{"warning", *p.Warning, p.For}, {"critical", *p.Critical, p.CriticalFor}}
		case p.Warning != nil:
			vs = []variant{{"warning", *p.Warning, p.For}}
		default:
			vs = []variant{{def.Severity, 0, p.For}}
		}
		for _, v := range vs {
			d := c.data()
			d.P, d.Threshold = p, v.threshold
			expr := render(def.Expr, d)
			if def.Workload {
				expr = c.withWorkload(expr)
			}
			add(def.Group, Rule{
				Alert:  def.Name,
				Expr:   expr,
				For:    v.forDur,
				Labels: map[string]string{"severity": v.sev},
				Annotations: &Annotations{
					Summary:     render(def.Summary, d),
					Description: render(def.Desc, d),
					RunbookURL:  c.RunbookBaseURL + "#" + strings.ToLower(def.Name),
				},
			})
		}
	}
	for _, r := range c.recordingRules() {
		add(groupCapacity, r)
	}
	return groups, nil
}

// recordingRules are the capacity-planning rules: per workload (pods of a workload aggregated by
// max), the max over `step`, its peak over `peak_range`, the configured bound and the suggested size.
func (c *Config) recordingRules() []Rule {
	d := c.data()
	rec := c.Recording
	var rules []Rule
	r := func(name, expr string) {
		rules = append(rules, Rule{Record: name, Expr: expr})
	}
	join := func(metric, sel, by string) string {
		return render(`max by ([[.C]]namespace, workload_kind, workload`+by+`) (
  max_over_time(`+metric+`{[[.S]]`+sel+`}[`+rec.Step+`])
  * on ([[.C]]namespace, pod) group_left (workload_kind, workload)
  max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]})
)`, d)
	}
	cur := func(metric, sel, by string) string {
		return render(`max by ([[.C]]namespace, workload_kind, workload`+by+`) (
  `+metric+`{[[.S]]`+sel+`}
  * on ([[.C]]namespace, pod) group_left (workload_kind, workload)
  max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]})
)`, d)
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	maxStep := ":max" + rec.Step
	peak := func(name string) string { return "max_over_time(" + name + "[" + rec.PeakRange + "])" }

	// emptyDir volumes: observed peak vs sizeLimit; suggested sizeLimit = peak x headroom.
	vol := "workload_volume:ephemeral_storage_volume_used_bytes"
	volSel, volBy := `, volume_type="empty_dir"`, ", volume, medium"
	r(vol+maxStep, join("ephemeral_storage_volume_used_bytes", volSel, volBy))
	r(vol+":peak", peak(vol+maxStep))
	r("workload_volume:ephemeral_storage_volume_size_limit_bytes:max", cur("ephemeral_storage_volume_size_limit_bytes", volSel, volBy))
	r("workload_volume:ephemeral_storage_volume_size_limit_bytes:suggested", vol+":peak * "+num(rec.Headroom))

	// Containers: what counts against the container limit.
	ctr := "workload_container:ephemeral_storage_container_usage_bytes"
	r(ctr+maxStep, join("ephemeral_storage_container_usage_bytes", "", ", container"))
	r(ctr+":peak", peak(ctr+maxStep))
	r("workload_container:ephemeral_storage_container_request_bytes:max", cur("ephemeral_storage_container_request_bytes", "", ", container"))
	r("workload_container:ephemeral_storage_container_limit_bytes:max", cur("ephemeral_storage_container_limit_bytes", "", ", container"))
	r("workload_container:ephemeral_storage_container_request_bytes:suggested", ctr+":peak * "+num(rec.Headroom))
	r("workload_container:ephemeral_storage_container_limit_bytes:suggested", ctr+":peak * "+num(rec.Headroom*rec.LimitFactor))

	// Pods: the whole pod's ephemeral storage (containers, disk emptyDirs, logs).
	pod := "workload:ephemeral_storage_pod_usage_bytes"
	r(pod+maxStep, join("ephemeral_storage_pod_usage_bytes", "", ""))
	r(pod+":peak", peak(pod+maxStep))
	r("workload:ephemeral_storage_pod_request_bytes:max", cur("ephemeral_storage_pod_request_bytes", "", ""))
	r("workload:ephemeral_storage_pod_limit_bytes:max", cur("ephemeral_storage_pod_limit_bytes", "", ""))
	r("workload:ephemeral_storage_pod_request_bytes:suggested", pod+":peak * "+num(rec.Headroom))
	r("workload:ephemeral_storage_pod_limit_bytes:suggested", pod+":peak * "+num(rec.Headroom*rec.LimitFactor))
	return rules
}

const header = "# Code generated by `make alerts` (mixin/) from alerts/config.yaml. DO NOT EDIT.\n"

// RulesFile renders alerts/rules.yaml.
func RulesFile(groups []Group) ([]byte, error) {
	return marshalYAML(header, map[string]any{"groups": groups})
}

// PrometheusRuleFile renders alerts/prometheusrule.yaml.
func (c *Config) PrometheusRuleFile(groups []Group) ([]byte, error) {
	type meta struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace,omitempty"`
		Labels    map[string]string `yaml:"labels,omitempty"`
	}
	type spec struct {
		Groups []Group `yaml:"groups"`
	}
	type pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		Spec       spec   `yaml:"spec"`
	}
	return marshalYAML(header, pr{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata:   meta{c.PrometheusRule.Name, c.PrometheusRule.Namespace, c.PrometheusRule.Labels},
		Spec:       spec{groups},
	})
}

func marshalYAML(header string, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
