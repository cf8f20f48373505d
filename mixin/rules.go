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
// the same name, one per severity; Threshold in the template is the severity's threshold (a ratio,
// or for time-to-limit alerts the horizon in seconds).
type alertDef struct {
	Name     string
	Group    string
	Severity string // when the alert has a single severity
	Params   []string
	Expr     string // template, [[ ]] delimiters, see tmplData
	Summary  string
	Desc     string
	// Workload joins the result with ephemeral_storage_pod_info on (cluster, namespace, pod),
	// adding workload_kind and workload. Pods without pod_info (gone) never alert, and workloads
	// listed in ephemeral_storage:alert_opt_out (config opt_out, Helm prometheusRule.optOut) neither.
	Workload bool
	// Complements names the kubernetes-mixin / node-mixin alert this one complements or replaces
	// (docs/runbooks.md lists them).
	Complements string
}

const (
	groupVolumes    = "ephemeral-storage-exporter.volumes"
	groupContainers = "ephemeral-storage-exporter.containers"
	groupNodes      = "ephemeral-storage-exporter.nodes"
	groupExporter   = "ephemeral-storage-exporter.exporter"
	groupCapacity   = "ephemeral-storage-exporter.capacity"
	groupOptOut     = "ephemeral-storage-exporter.opt-out"
)

// signal is one bound the kubelet enforces, as recorded by the time-to-limit rules:
// <Level>:ephemeral_storage_used:max, <Level>:ephemeral_storage_limit:max,
// <Level>:ephemeral_storage_limit_ratio and <Level>:ephemeral_storage_time_to_limit_seconds, all
// with exactly the labels ID (plus the cluster label): no instance, job or agent pod labels, so an
// agent restart or rollout continues the same series.
type signal struct {
	Group string // recorded in the group of its alerts, before them: a group evaluates in order,
	// so the alerts see this evaluation's values (groups run concurrently, in no set order)
	Level string // recording rule level, e.g. pod_volume
	Bound string // the value of the bound label of the time-to-limit series
	ID    string // identity labels
	Used  string // template: the usage series, labels including ID
	Limit string // template: the bound, labels including ID
}

var signals = []signal{
	{Group: groupVolumes, Level: "pod_volume", Bound: "volume", ID: "node, namespace, pod, volume",
		Used:  `ephemeral_storage_volume_used_bytes{[[.S]], volume_type="empty_dir", medium="disk"}`,
		Limit: `ephemeral_storage_volume_size_limit_bytes{[[.S]], volume_type="empty_dir", medium="disk"}`},
	{Group: groupContainers, Level: "pod_container", Bound: "container", ID: "node, namespace, pod, container",
		Used:  `ephemeral_storage_container_usage_bytes{[[.S]]}`,
		Limit: `ephemeral_storage_container_limit_bytes{[[.S]]}`},
	{Group: groupContainers, Level: "pod", Bound: "pod", ID: "node, namespace, pod",
		Used:  `ephemeral_storage_pod_usage_bytes{[[.S]]}`,
		Limit: `ephemeral_storage_pod_limit_bytes{[[.S]]}`},
	// Node signals: usage against the usage at which the hard eviction threshold is met, the
	// same ratio as ephemeral_storage_node_eviction_threshold_ratio (kubelet's available < threshold).
	{Group: groupNodes, Level: "node_signal", Bound: "node", ID: "node, signal",
		Used: `label_replace(ephemeral_storage_node_fs_capacity_bytes{[[.S]]} - ephemeral_storage_node_fs_available_bytes{[[.S]]}, "signal", "$1.available", "fs", "(.+)")`,
		Limit: `label_replace(ephemeral_storage_node_fs_capacity_bytes{[[.S]]}, "signal", "$1.available", "fs", "(.+)")
    - on ([[.C]]node, signal) group_left ()
    max by ([[.C]]node, signal) (ephemeral_storage_node_eviction_threshold_bytes{[[.S]]})`},
	{Group: groupNodes, Level: "node_inodes", Bound: "node_inodes", ID: "node, signal",
		Used: `label_replace(ephemeral_storage_node_fs_inodes{[[.S]]} - ephemeral_storage_node_fs_inodes_free{[[.S]]}, "signal", "$1.inodesFree", "fs", "(.+)")`,
		Limit: `label_replace(ephemeral_storage_node_fs_inodes{[[.S]]}, "signal", "$1.inodesFree", "fs", "(.+)")
    - on ([[.C]]node, signal) group_left ()
    max by ([[.C]]node, signal) (ephemeral_storage_node_eviction_threshold_inodes{[[.S]]})`},
	// A memory emptyDir is its own tmpfs with its own inode count; disk emptyDirs share the node's.
	{Group: groupVolumes, Level: "pod_volume_inodes", Bound: "volume_inodes", ID: "node, namespace, pod, volume",
		Used:  `ephemeral_storage_volume_inodes{[[.S]], volume_type="empty_dir", medium="memory"} - ephemeral_storage_volume_inodes_free{[[.S]], volume_type="empty_dir", medium="memory"}`,
		Limit: `ephemeral_storage_volume_inodes{[[.S]], volume_type="empty_dir", medium="memory"}`},
}

func signalOf(level string) signal {
	for _, s := range signals {
		if s.Level == level {
			return s
		}
	}
	panic(level)
}

// fillingUp is a time-to-limit alert: warning when the bound is reached within warning_horizon,
// critical within critical_horizon, from the recorded time to limit (growth guards included).
func fillingUp(name, group, level, complements, what, desc string) alertDef {
	sg := signalOf(level)
	return alertDef{
		Name: name, Group: group, Complements: complements,
		Params:   []string{"warning_horizon", "for", "critical_horizon", "critical_for", "keep_firing_for"},
		Expr:     level + `:ephemeral_storage_time_to_limit_seconds{[[.R]]} < [[num .Threshold]]`,
		Workload: sg.Bound != "node" && sg.Bound != "node_inodes",
		Summary:  what + ` is predicted to reach its bound within [[dur .Threshold]].`,
		Desc: desc + ` {{ with printf "` + level + `:ephemeral_storage_limit_ratio{` + idMatchers(sg.ID) + `}" ` + idArgs(sg.ID) +
			` | query }}is at {{ . | first | value | humanizePercentage }} and {{ end }}reaches the bound in about {{ $value | humanizeDuration }} at its growth rate (see the runbook for the method).`,
	}
}

// idMatchers and idArgs build a query for the same identity inside an alert template.
func idMatchers(id string) string {
	var m []string
	for _, l := range strings.Split(id, ", ") {
		m = append(m, l+"=%q")
	}
	return strings.Join(m, ",")
}

func idArgs(id string) string {
	var a []string
	for _, l := range strings.Split(id, ", ") {
		a = append(a, "$labels."+l)
	}
	return strings.Join(a, " ")
}

// nearLimit is the "nearly full" alert: critical only, at a high ratio, whatever the growth.
func nearLimit(name, group, level, complements, summary, desc string, workload bool) alertDef {
	return alertDef{
		Name: name, Group: group, Severity: "critical", Complements: complements,
		Params:   []string{"critical", "critical_for", "keep_firing_for"},
		Expr:     level + `:ephemeral_storage_limit_ratio{[[.R]]} > [[num .Threshold]]`,
		Workload: workload,
		Summary:  summary,
		Desc:     desc,
	}
}

const podText = `pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.workload_kind }} {{ $labels.workload }}) on node {{ $labels.node }}`

// countBorn counts the events of a counter within window W, whole numbers, stable across agent
// restarts. A counter series is created at its first event (born at 1, which increase() cannot
// see): a series that did not exist W ago counts with its whole value when the node's agent was
// reporting before the series appeared (more kubelet_up samples than counter samples within W),
// so a new agent that re-counts old evictions at start does not alert, and an agent started 3
// minutes earlier does.
func countBorn(metric, by string) string {
	id := `[[.C]]` + by
	return `round(sum by (` + id + `) (
  (
    max by (` + id + `) (` + metric + `{[[.S]]})
    unless on (` + id + `) max by (` + id + `) (` + metric + `{[[.S]]} offset [[.P.Window]])
  )
  and on (` + id + `)
  (
    max by (` + id + `) (count_over_time(` + metric + `{[[.S]]}[[rng .P.Window]]))
    < on ([[.C]]node) group_left ()
    sum by ([[.C]]node) (count_over_time(ephemeral_storage_exporter_kubelet_up{[[.S]]}[[rng .P.Window]]))
  )
  or
  max by (` + id + `) (increase(` + metric + `{[[.S]]}[[rng .P.Window]])) > 0
)) > 0`
}

// alertDefs is every alert, in rendering order.
var alertDefs = []alertDef{
	fillingUp("EphemeralStorageVolumeFillingUp", groupVolumes, "pod_volume", "KubePersistentVolumeFillingUp (same idea, for emptyDir sizeLimit evictions)",
		"An emptyDir volume",
		`emptyDir {{ $labels.volume }} of `+podText+` is filling up toward its sizeLimit: the kubelet evicts the pod, without graceful shutdown, when usage passes it. It`),
	nearLimit("EphemeralStorageVolumeNearSizeLimit", groupVolumes, "pod_volume", "none (kubernetes-mixin has no emptyDir alert)",
		"An emptyDir volume is nearly at its sizeLimit; the kubelet evicts the pod when it passes it.",
		`emptyDir {{ $labels.volume }} of `+podText+` uses {{ $value | humanizePercentage }} of its sizeLimit. The kubelet evicts the pod, without graceful shutdown, as soon as usage passes 100%.`, true),
	{
		Name: "EphemeralStorageMemoryVolumeNearSizeLimit", Group: groupVolumes, Severity: "warning", Params: []string{"warning", "for", "min_bytes"},
		Complements: "KubeContainerOOMKilled-style memory alerts (a tmpfs counts against the memory limit)",
		Expr: `max by ([[.C]]node, namespace, pod, volume) (ephemeral_storage_volume_size_limit_ratio{[[.S]], volume_type="empty_dir", medium="memory"}) > [[num .Threshold]]
and on ([[.C]]node, namespace, pod, volume)
  max by ([[.C]]node, namespace, pod, volume) (ephemeral_storage_volume_used_bytes{[[.S]], volume_type="empty_dir", medium="memory"}) >= [[num .P.MinBytes]]`,
		Workload: true,
		Summary:  "A memory-backed emptyDir (tmpfs) takes a large share of the memory its pod may use.",
		Desc: `memory emptyDir {{ $labels.volume }} of ` + podText + ` ` +
			`is {{ $value | humanizePercentage }} full. Its size is min(sizeLimit, pod memory limit, node allocatable memory), and its pages count against the container memory limit: ` +
			`at 100% writes fail with ENOSPC, and the memory left for the application shrinks (OOM kill risk).`,
	},
	fillingUp("EphemeralStorageVolumeInodesFillingUp", groupVolumes, "pod_volume_inodes", "none",
		"Inode usage of a memory emptyDir",
		`memory emptyDir {{ $labels.volume }} of `+podText+` is running out of inodes: file creation then fails with ENOSPC. It`),
	fillingUp("EphemeralStorageContainerFillingUp", groupContainers, "pod_container", "none (kubernetes-mixin has no ephemeral-storage alert)",
		"A container's ephemeral storage",
		`container {{ $labels.container }} of `+podText+` is filling up toward its ephemeral-storage limit (logs, plus the writable layer when the node has no dedicated imagefs); the kubelet evicts the pod when usage passes it. It`),
	nearLimit("EphemeralStorageContainerNearLimit", groupContainers, "pod_container", "none",
		"A container is nearly at its ephemeral-storage limit; the kubelet evicts the pod when it passes it.",
		`container {{ $labels.container }} of `+podText+` uses {{ $value | humanizePercentage }} of its ephemeral-storage limit. The kubelet evicts the pod as soon as usage passes 100%.`, true),
	fillingUp("EphemeralStoragePodFillingUp", groupContainers, "pod", "none",
		"A pod's ephemeral storage",
		``+podText+` is filling up toward its ephemeral-storage limit, the sum of its containers' limits (container logs and writable layers, disk emptyDirs); the kubelet evicts it when usage passes it. It`),
	nearLimit("EphemeralStoragePodNearLimit", groupContainers, "pod", "none",
		"A pod is nearly at its total ephemeral-storage limit; the kubelet evicts it when it passes it.",
		podText+` uses {{ $value | humanizePercentage }} of the sum of its containers' ephemeral-storage limits. The kubelet evicts the pod as soon as usage passes 100%.`, true),
	{
		Name: "EphemeralStorageContainerWritableLayerDrift", Group: groupContainers, Severity: "info", Params: []string{"range", "min_bytes", "for"},
		Complements: "none",
		Expr: `max by ([[.C]]node, namespace, pod, container) (delta(ephemeral_storage_container_rootfs_bytes{[[.S]]}[[rng .P.Range]])) > [[num .P.MinBytes]]
and on ([[.C]]node, namespace, pod, container)
  ephemeral_storage_container_info{[[.S]], read_only_root_filesystem="false"}`,
		Workload: true,
		Summary:  "A container without readOnlyRootFilesystem keeps writing to its writable layer.",
		Desc: `container {{ $labels.container }} of ` + podText + ` ` +
			`wrote {{ $value | humanize1024 }}B to its writable layer in the last [[.P.Range]]. Mount a volume at the paths it writes to and set readOnlyRootFilesystem: true.`,
	},
	{
		Name: "EphemeralStoragePodEvicted", Group: groupContainers, Severity: "warning", Params: []string{"window"},
		Complements: "none (KubePodCrashLooping / KubeDeploymentReplicasMismatch see only the effect)",
		Expr:        countBorn("ephemeral_storage_evictions_total", "node, namespace, workload_kind, workload, cause, volume, container, resource"),
		Summary:     "The kubelet evicted pods for local ephemeral storage.",
		Desc: `The kubelet on node {{ $labels.node }} evicted {{ $value | printf "%.0f" }} pod(s) of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} in the last [[.P.Window]], ` +
			`cause {{ $labels.cause }}{{ if $labels.volume }}, emptyDir {{ $labels.volume }}{{ end }}{{ if $labels.container }}, container {{ $labels.container }}{{ end }}{{ if $labels.resource }}, starved resource {{ $labels.resource }}{{ end }}.`,
	},
	{
		Name: "EphemeralStorageReadOnlyWriteFailures", Group: groupContainers, Severity: "warning", Params: []string{"window"},
		Complements: "none",
		Expr:        countBorn("ephemeral_storage_read_only_write_failures_total", "node, namespace, workload_kind, workload, container"),
		Summary:     "A container fails to write: Read-only file system.",
		Desc: `container {{ $labels.container }} of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} on node {{ $labels.node }} ` +
			`hit {{ $value | printf "%.0f" }} write failure(s) with "Read-only file system" (EROFS) in the last [[.P.Window]]: it writes to a path that is not a mounted volume while its root filesystem is read-only.`,
	},
	fillingUp("EphemeralStorageNodeFillingUp", groupNodes, "node_signal", "NodeFilesystemSpaceFillingUp (node-mixin; this one predicts the kubelet's eviction threshold, not 0 bytes)",
		"A node filesystem",
		`Signal {{ $labels.signal }} on node {{ $labels.node }} approaches the kubelet's hard eviction threshold; the node then gets DiskPressure and the kubelet evicts pods. It`),
	nearLimit("EphemeralStorageNodeNearEvictionThreshold", groupNodes, "node_signal", "NodeFilesystemAlmostOutOfSpace (node-mixin)",
		"A node filesystem is nearly at the kubelet's hard eviction threshold.",
		`Signal {{ $labels.signal }} on node {{ $labels.node }} is at {{ $value | humanizePercentage }} of the usage at which the kubelet's hard eviction threshold is met. Past 100% the node gets DiskPressure and the kubelet evicts pods.`, false),
	fillingUp("EphemeralStorageNodeInodesFillingUp", groupNodes, "node_inodes", "NodeFilesystemFilesFillingUp (node-mixin; this one predicts the kubelet's inodesFree threshold)",
		"Inode usage of a node filesystem",
		`Signal {{ $labels.signal }} on node {{ $labels.node }} approaches the kubelet's hard eviction threshold on free inodes; the node then gets DiskPressure and the kubelet evicts pods. It`),
	{
		Name: "EphemeralStorageNodeDiskPressure", Group: groupNodes, Severity: "critical", Params: []string{"for"},
		Complements: "KubeNodePressure (kubernetes-mixin; this one names the filesystem signals)",
		Expr:        `max by ([[.C]]node) (ephemeral_storage_node_disk_pressure{[[.S]]}) == 1`,
		Summary:     "A node has the DiskPressure condition; the kubelet is evicting pods.",
		Desc:        `Node {{ $labels.node }} has had DiskPressure for [[.P.For]]: a nodefs or imagefs eviction threshold is met, the kubelet evicts pods and admits no new BestEffort pods.`,
	},
	{
		Name: "EphemeralStorageExporterKubeletUnreachable", Group: groupExporter, Severity: "warning", Params: []string{"for"},
		Complements: "KubeletDown (kubernetes-mixin: Prometheus cannot scrape the kubelet; this one: the agent cannot read its summary)",
		Expr:        `max by ([[.C]]node) (ephemeral_storage_exporter_kubelet_up{[[.S]]}) == 0`,
		Summary:     "ephemeral-storage-exporter cannot read the kubelet summary.",
		Desc:        `The agent on node {{ $labels.node }} has failed to read the kubelet's /stats/summary for [[.P.For]]: storage usage on this node is not monitored, and the storage series are dropped once the last good summary passes --kubelet.max-staleness. See ephemeral_storage_exporter_kubelet_errors_total for the kind of error.`,
	},
	{
		Name: "EphemeralStorageExporterDataStale", Group: groupExporter, Severity: "warning", Params: []string{"max_seconds", "for"},
		Complements: "none",
		Expr:        `min by ([[.C]]node) (ephemeral_storage_exporter_data_age_seconds{[[.S]]}) > [[num .P.MaxSeconds]]`,
		Summary:     "ephemeral-storage-exporter serves old storage data.",
		Desc:        `The storage series of node {{ $labels.node }} come from a kubelet summary {{ $value | humanizeDuration }} old; they are dropped once it passes --kubelet.max-staleness (5m by default).`,
	},
	{
		Name: "EphemeralStorageExporterWatchNotSynced", Group: groupExporter, Severity: "warning", Params: []string{"for"},
		Complements: "none",
		Expr:        `max by ([[.C]]node, resource) (ephemeral_storage_exporter_informer_synced{[[.S]]}) == 0`,
		Summary:     "ephemeral-storage-exporter has no synced watch of a resource: pod limits or evictions are unknown.",
		Desc:        `The agent on node {{ $labels.node }} has not synced its watch of {{ $labels.resource }} for [[.P.For]]: without pods, limits and ratios (and every pod-level alert) are missing; without events, evictions are missed.`,
	},
	{
		Name: "EphemeralStorageExporterPodsUnmatched", Group: groupExporter, Severity: "warning", Params: []string{"for"},
		Complements: "none",
		Expr:        `max by ([[.C]]node) (ephemeral_storage_exporter_pods_unmatched{[[.S]]}) > 0`,
		Summary:     "ephemeral-storage-exporter sees pods in the kubelet summary it has no spec for.",
		Desc:        `{{ $value | printf "%.0f" }} pod(s) on node {{ $labels.node }} have had no pod spec in the agent's view for [[.P.For]]: their usage is exported, their limits, ratios and alerts are not.`,
	},
	{
		Name: "EphemeralStorageExporterDown", Group: groupExporter, Severity: "warning", Params: []string{"for"},
		Complements: "TargetDown (kube-prometheus; this one names the node's storage as unmonitored)",
		Expr:        `up{[[.S]]} == 0`,
		Summary:     "Prometheus cannot scrape an ephemeral-storage-exporter agent.",
		Desc:        `Target {{ $labels.instance }} has been down for [[.P.For]]: storage usage and evictions on its node are not monitored.`,
	},
	{
		Name: "EphemeralStorageExporterAbsent", Group: groupExporter, Severity: "critical", Params: []string{"for"},
		Complements: "none",
		Expr:        `absent(up{[[.S]]} == 1)`,
		Summary:     "No ephemeral-storage-exporter target is up.",
		Desc:        `Prometheus has had no target of ephemeral-storage-exporter up for [[.P.For]]: no node's ephemeral storage is monitored and no storage alert can fire.`,
	},
}

// Rule and Group are the Prometheus rules file format, in its key order.
type Rule struct {
	Record        string            `yaml:"record,omitempty" json:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty" json:"alert,omitempty"`
	Expr          string            `yaml:"expr" json:"expr"`
	For           string            `yaml:"for,omitempty" json:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty" json:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations   *Annotations      `yaml:"annotations,omitempty" json:"annotations,omitempty"`
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
	R         string // matchers on recorded series: none (they carry no job label)
	C         string // "cluster, " or ""
	P         *AlertParams
	Threshold float64
	T         TimeToLimit
}

func (c *Config) data() tmplData {
	d := tmplData{S: c.Selectors.Job, T: c.TimeToLimit}
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
	// dur prints seconds as a Prometheus duration: 1800 -> 30m.
	"dur": func(v float64) string { return model.Duration(time.Duration(v) * time.Second).String() },
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

// withWorkload adds workload_kind and workload from ephemeral_storage_pod_info. topk by pod keeps
// one info series per pod, so a duplicate (two agents during a rollout, a relabelling mistake)
// cannot turn the join into a many-to-many error that silences the rule for every pod. Workloads
// opted out (ephemeral_storage:alert_opt_out) are dropped.
func (c *Config) withWorkload(expr string) string {
	d := c.data()
	return "(\n" + indent(expr) + "\n)\n" + render(`* on ([[.C]]namespace, pod) group_left (workload_kind, workload)
  topk by ([[.C]]namespace, pod) (1, max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]}))
unless on (namespace, workload) ephemeral_storage:alert_opt_out`, d)
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
	for _, g := range []string{groupVolumes, groupContainers, groupNodes} {
		idx[g] = len(groups)
		groups = append(groups, Group{Name: g, Rules: c.timeToLimitRules(g)})
	}
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
		case p.WarningHorizon != "":
			vs = []variant{{"warning", secs(p.WarningHorizon), p.For}, {"critical", secs(p.CriticalHorizon), p.CriticalFor}}
		case p.Warning != nil && p.Critical != nil:
			vs = []variant{{"warning", *p.Warning, p.For}, {"critical", *p.Critical, p.CriticalFor}}
		case p.Warning != nil:
			vs = []variant{{"warning", *p.Warning, p.For}}
		case p.Critical != nil:
			vs = []variant{{"critical", *p.Critical, p.CriticalFor}}
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
				Alert:         def.Name,
				Expr:          expr,
				For:           v.forDur,
				KeepFiringFor: p.KeepFiringFor,
				Labels:        map[string]string{"severity": v.sev},
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
	if r := c.optOutRules(); len(r) > 0 {
		groups = append(groups, Group{Name: groupOptOut, Rules: r})
	}
	return groups, nil
}

func secs(d string) float64 {
	md, err := model.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return float64(time.Duration(md) / time.Second)
}

// timeToLimitRules record, for every signal, usage, bound, ratio and the seconds until usage
// reaches the bound. The method (docs/runbooks.md#time-to-limit):
//   - usage and bound are recorded per identity first (max by the identity labels), so the
//     growth rate is taken over one continuous series across agent restarts and rollouts;
//   - the rate is the larger of deriv() over fast_range and over slow_range, each counted only
//     when the growth it implies over its range is at least min_growth of the bound: a flat,
//     shrinking or noisy series predicts nothing (no "0 s" from jitter), and the kubelet's
//     volume stats, refreshed every ~90 s, step several times within fast_range;
//   - warm-up guard: the series existed min_age ago (a new pod warming its cache predicts nothing);
//   - high-water guard: usage is above its maximum over high_water_range, up to
//     high_water_offset ago (a saw-tooth that cleans up before reaching its last peak predicts
//     nothing);
//   - usage past the bound gives 0.
func (c *Config) timeToLimitRules(group string) []Rule {
	d := c.data()
	t := c.TimeToLimit
	var rules []Rule
	for _, sg := range signals {
		if sg.Group != group {
			continue
		}
		id := d.C + sg.ID
		used := sg.Level + ":ephemeral_storage_used:max"
		limit := sg.Level + ":ephemeral_storage_limit:max"
		rate := func(rng string) string {
			return fmt.Sprintf("label_replace(deriv(%s[%s]) >= on (%s) (%s * %s / %d), \"range\", \"%s\", \"\", \"\")",
				used, rng, id, limit, strconv.FormatFloat(t.MinGrowth, 'f', -1, 64), int64(secs(rng)), rng)
		}
		rules = append(rules,
			Rule{Record: used, Expr: "max by (" + id + ") (" + render(sg.Used, d) + ")"},
			Rule{Record: limit, Expr: "max by (" + id + ") (" + render(sg.Limit, d) + ") > 0"},
			Rule{Record: sg.Level + ":ephemeral_storage_limit_ratio", Expr: used + " / " + limit},
			Rule{Record: sg.Level + ":ephemeral_storage_time_to_limit_seconds", Labels: map[string]string{"bound": sg.Bound},
				Expr: fmt.Sprintf(`clamp_min(%[2]s - %[1]s, 0)
  / on (%[3]s) max by (%[3]s) (
    %[4]s
    or
    %[5]s
  )
and on (%[3]s) (%[1]s offset %[6]s)
and on (%[3]s) (%[1]s > on (%[3]s) max_over_time(%[1]s[%[7]s] offset %[8]s))`,
					used, limit, id, rate(t.FastRange), rate(t.SlowRange), t.MinAge, t.HighWaterRange, t.HighWaterOffset)},
		)
	}
	return rules
}

// optOutRules record ephemeral_storage:alert_opt_out{namespace, workload} = 1 for every opted-out
// workload; the pod-level alerts drop them. The Helm chart renders prometheusRule.optOut the same way.
func (c *Config) optOutRules() []Rule {
	var rules []Rule
	for _, o := range c.OptOut {
		rules = append(rules, Rule{Record: "ephemeral_storage:alert_opt_out", Expr: "vector(1)", Labels: map[string]string{"namespace": o.Namespace, "workload": o.Workload}})
	}
	return rules
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
  topk by ([[.C]]namespace, pod) (1, max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]}))
)`, d)
	}
	cur := func(metric, sel, by string) string {
		return render(`max by ([[.C]]namespace, workload_kind, workload`+by+`) (
  `+metric+`{[[.S]]`+sel+`}
  * on ([[.C]]namespace, pod) group_left (workload_kind, workload)
  topk by ([[.C]]namespace, pod) (1, max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]}))
)`, d)
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	maxStep := ":max" + rec.Step
	peak := func(name string) string { return "max_over_time(" + name + "[" + rec.PeakRange + "])" }

	// The sizing model of `advise` (advise/sizing.go, docs/advise.md#the-rules): disk emptyDirs
	// count against the pod's limit, the sum of its containers' limits, so every container's
	// request carries the pod's suggested emptyDir sizeLimits plus its own peak. advise also
	// rounds up to a ladder of manifest-friendly steps; the rules do not round.
	floor := num(rec.Floor)
	wl := d.C + "namespace, workload_kind, workload"

	// emptyDir volumes: observed peak vs sizeLimit; suggested sizeLimit = max(peak x headroom, floor).
	vol := "workload_volume:ephemeral_storage_volume_used_bytes"
	volSel, volBy := `, volume_type="empty_dir"`, ", volume, medium"
	r(vol+maxStep, join("ephemeral_storage_volume_used_bytes", volSel, volBy))
	r(vol+":peak", peak(vol+maxStep))
	r("workload_volume:ephemeral_storage_volume_size_limit_bytes:max", cur("ephemeral_storage_volume_size_limit_bytes", volSel, volBy))
	r("workload_volume:ephemeral_storage_volume_size_limit_bytes:suggested", "clamp_min("+vol+`:peak{medium="disk"} * `+num(rec.Headroom)+", "+floor+")")
	// The disk emptyDirs of one pod of the workload, summed: what its containers' limits must cover.
	r("workload:ephemeral_storage_volume_size_limit_bytes:suggested_sum", "sum by ("+wl+") (workload_volume:ephemeral_storage_volume_size_limit_bytes:suggested)")

	// Containers: request = (pod's suggested disk emptyDir sum + own peak) x headroom, at least
	// floor; a regular init container carries only its own peak (it enters the pod's limit by a
	// max and the kubelet checks no per-container limit on it). limit = request x limit_factor,
	// at least log_floor (containerLogMaxSize x containerLogMaxFiles: the logs alone reach it).
	ctr := "workload_container:ephemeral_storage_container_usage_bytes"
	typ := "workload_container:ephemeral_storage_container_info:type"
	r(ctr+maxStep, join("ephemeral_storage_container_usage_bytes", "", ", container"))
	r(ctr+":peak", peak(ctr+maxStep))
	r(typ, render(`max by ([[.C]]namespace, workload_kind, workload, container, container_type) (
  ephemeral_storage_container_info{[[.S]]}
  * on ([[.C]]namespace, pod) group_left (workload_kind, workload)
  topk by ([[.C]]namespace, pod) (1, max by ([[.C]]namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{[[.S]]}))
)`, d))
	r("workload_container:ephemeral_storage_container_request_bytes:max", cur("ephemeral_storage_container_request_bytes", "", ", container"))
	r("workload_container:ephemeral_storage_container_limit_bytes:max", cur("ephemeral_storage_container_limit_bytes", "", ", container"))
	wlc := wl + ", container"
	isInit := typ + `{container_type="init"}`
	r("workload_container:ephemeral_storage_container_request_bytes:suggested", "clamp_min(\n  (\n    ("+ctr+":peak unless on ("+wlc+") "+isInit+")\n"+
		"    + on ("+wl+") group_left ()\n    (workload:ephemeral_storage_volume_size_limit_bytes:suggested_sum or on ("+wl+") group by ("+wl+") ("+ctr+":peak) * 0)\n"+
		"    or\n    "+ctr+":peak\n  ) * "+num(rec.Headroom)+",\n  "+floor+"\n)")
	r("workload_container:ephemeral_storage_container_limit_bytes:suggested", "clamp_min(workload_container:ephemeral_storage_container_request_bytes:suggested * "+num(rec.LimitFactor)+", "+num(rec.LogFloor)+")")

	// Pods: the kubelet's pod value (component-helpers resource aggregateContainerResourcesByFn):
	// app containers and sidecars add up; a regular init container runs with the sidecars, so
	// the pod's value is max(sum of the others, largest init + sidecars). Containers whose type
	// is not known count as app containers.
	podTotal := func(m string) string {
		sidecars := "sum by (" + wl + ") (" + m + " and on (" + wlc + ") " + typ + `{container_type="sidecar"})`
		inits := "max by (" + wl + ") (" + m + " and on (" + wlc + ") " + isInit + ")"
		return "max by (" + wl + ") (\n  label_replace(sum by (" + wl + ") (" + m + " unless on (" + wlc + ") " + isInit + `), "phase", "running", "", "")` +
			"\n  or\n  label_replace(" + inits + " + on (" + wl + ") (" + sidecars + " or " + inits + ` * 0), "phase", "init", "", "")` + "\n)"
	}
	pod := "workload:ephemeral_storage_pod_usage_bytes"
	r(pod+maxStep, join("ephemeral_storage_pod_usage_bytes", "", ""))
	r(pod+":peak", peak(pod+maxStep))
	r("workload:ephemeral_storage_pod_request_bytes:max", cur("ephemeral_storage_pod_request_bytes", "", ""))
	r("workload:ephemeral_storage_pod_limit_bytes:max", cur("ephemeral_storage_pod_limit_bytes", "", ""))
	r("workload:ephemeral_storage_pod_request_bytes:suggested", podTotal("workload_container:ephemeral_storage_container_request_bytes:suggested"))
	r("workload:ephemeral_storage_pod_limit_bytes:suggested", podTotal("workload_container:ephemeral_storage_container_limit_bytes:suggested"))
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
