package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard files and their stable UIDs.
const (
	uidOverview = "ese-overview"
	uidNode     = "ese-node"
	uidWorkload = "ese-workload"
	uidCapacity = "ese-capacity"
	dashTag     = "ephemeral-storage"
)

var dsRef = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// dash holds what the panel helpers need: the selectors with the dashboard variables.
type dash struct {
	c *Config
	// sel is the matcher list for the agent's series: job and cluster.
	sel string
	// rsel is the matcher list for recorded series (no job label).
	rsel string
	cl   string // "cluster, " or ""
}

func (c *Config) dash() *dash {
	d := &dash{c: c, sel: c.Selectors.Job}
	if c.Selectors.ClusterLabel != "" {
		d.sel += `, ` + c.Selectors.ClusterLabel + `="$cluster"`
		d.rsel = c.Selectors.ClusterLabel + `="$cluster"`
		d.cl = c.Selectors.ClusterLabel + ", "
	}
	return d
}

// x expands S (agent matchers), R (recorded matchers) and C ("cluster, ") in a query, and counts
// event counters from zero (see eventIncrease).
func (d *dash) x(q string) string {
	return eventIncrease(strings.NewReplacer("{S", "{"+d.sel, "{R", "{"+d.rsel, "(C ", "("+d.cl).Replace(q))
}

// eventCounterIncrease matches increase() of the agent's event counters.
var eventCounterIncrease = regexp.MustCompile(`increase\((ephemeral_storage_(?:evictions|read_only_write_failures|node_eviction_events)_total\{[^}]*\})\[([^\]]+)\]\)`)

// eventIncrease rewrites increase(M[w]) of an event counter so that a series born inside the
// window counts from zero. The agent creates a label set's series at its first eviction, already
// at 1, and increase() only sees growth between samples: every first eviction of a workload would
// show as 0 (found by make e2e). The alert rules do the same with unless ... offset.
func eventIncrease(q string) string {
	return eventCounterIncrease.ReplaceAllString(q, `(($1 unless $1 offset $2) or increase($1[$2]))`)
}

// workload joins a query with pod_info, adding workload_kind and workload, with extra matchers on pod_info.
func (d *dash) workload(q, infoMatchers string) string {
	return d.x("(" + q + ") * on (C namespace, pod) group_left (workload_kind, workload) max by (C namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{S" + infoMatchers + "})")
}

type query struct {
	expr, legend string
	instant      bool
}

func targets(qs []query) []cog.Builder[variants.Dataquery] {
	var out []cog.Builder[variants.Dataquery]
	for i, q := range qs {
		b := prometheus.NewDataqueryBuilder().Expr(q.expr).RefId(string(rune('A' + i))).Datasource(dsRef)
		if q.instant {
			b = b.Instant().Format(prometheus.PromQueryFormatTable)
		} else {
			b = b.Range().LegendFormat(q.legend)
		}
		out = append(out, b)
	}
	return out
}

func thresholds(steps ...float64) *dashboard.ThresholdsConfigBuilder {
	colors := []string{"green", "orange", "red"}
	ts := []dashboard.Threshold{{Value: nil, Color: colors[0]}}
	for i, s := range steps {
		ts = append(ts, dashboard.Threshold{Value: cog.ToPtr(s), Color: colors[min(i+1, len(colors)-1)]})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

func ts(title, desc, unit string, w, h uint32, qs ...query) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(dsRef).
		Targets(targets(qs)).Span(w).Height(h).FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	if unit == "percentunit" {
		b = b.Min(0).Thresholds(thresholds(0.85, 1)).ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
	}
	return b
}

// columnName names a table's value column by its unit when its query has no legend.
var columnName = map[string]string{"percentunit": "Ratio", "bytes": "Bytes", "short": "Count", "s": "Seconds"}

func tbl(title, desc, unit string, w, h uint32, qs ...query) *table.PanelBuilder {
	for i := range qs {
		qs[i].instant = true
	}
	// Named value columns: a table's instant values come as "Value" (one query) or "Value #A"...
	rename := map[string]any{}
	for i, q := range qs {
		name := q.legend
		if name == "" {
			name = columnName[unit]
		}
		if len(qs) == 1 {
			rename["Value"] = name
		} else {
			rename["Value #"+string(rune('A'+i))] = name
		}
	}
	b := table.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(dsRef).
		Targets(targets(qs)).Span(w).Height(h).
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			{Id: "organize", Options: map[string]any{"excludeByName": map[string]any{"Time": true}, "renameByName": rename}},
		})
	if unit == "percentunit" {
		b = b.Thresholds(thresholds(0.85, 1))
	}
	return b
}

func st(title, desc, unit string, w, h uint32, th []float64, qs ...query) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(dsRef).
		Targets(targets(qs)).Span(w).Height(h).ColorMode(common.BigValueColorModeBackground).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	if th != nil {
		b = b.Thresholds(thresholds(th...))
	}
	return b
}

func (d *dash) base(uid, title, desc string) *dashboard.DashboardBuilder {
	b := dashboard.NewDashboardBuilder(title).Uid(uid).Description(desc).Tags([]string{dashTag}).
		Editable().Refresh("1m").Time("now-6h", "now").Timezone("browser").Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("Ephemeral storage").Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{dashTag}).AsDropdown(true).IncludeVars(true).KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"))
	if d.c.Selectors.ClusterLabel != "" {
		b = b.WithVariable(d.queryVar("cluster", "Cluster", "ephemeral_storage_exporter_kubelet_up{"+d.c.Selectors.Job+"}", d.c.Selectors.ClusterLabel, false))
	}
	return b
}

func (d *dash) queryVar(name, label, metric, labelName string, all bool) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	b := dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(dsRef).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery"}}).
		Definition(q).Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
	if all {
		b = b.IncludeAll(true).AllValue(".*").Multi(true)
	}
	return b
}

// Dashboards renders every dashboard, keyed by file name.
func (c *Config) Dashboards() (map[string][]byte, error) {
	d := c.dash()
	builders := map[string]*dashboard.DashboardBuilder{
		"ephemeral-storage-overview.json": d.overview(),
		"ephemeral-storage-node.json":     d.node(),
		"ephemeral-storage-workload.json": d.workloadDash(),
		"ephemeral-storage-capacity.json": d.capacity(),
	}
	out := map[string][]byte{}
	for name, b := range builders {
		db, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		j, err := withPanelIDs(db)
		if err != nil {
			return nil, err
		}
		out[name] = append(j, '\n')
	}
	return out, nil
}

// nextEvictions is the overview's first panel: every bound with a time to limit (the recorded
// <level>:ephemeral_storage_time_to_limit_seconds, growth guards included), soonest first, with the
// ratio now, coloured by time left and linked to the workload dashboard.
func (d *dash) nextEvictions() *table.PanelBuilder {
	union := func(metric string) string {
		pods := d.x(`(
  label_replace(pod_volume:` + metric + `{R}, "what", "emptyDir $1", "volume", "(.+)")
  or label_replace(pod_container:` + metric + `{R}, "what", "container $1", "container", "(.+)")
  or label_replace(pod:` + metric + `{R}, "what", "pod", "", "")
  or label_replace(pod_volume_inodes:` + metric + `{R}, "what", "tmpfs inodes $1", "volume", "(.+)")
)
* on (C namespace, pod) group_left (workload_kind, workload)
  topk by (C namespace, pod) (1, max by (C namespace, pod, workload_kind, workload) (ephemeral_storage_pod_info{S}))`)
		nodes := d.x(`label_replace(node_signal:` + metric + `{R}, "what", "node $1", "signal", "(.+)")
or label_replace(node_inodes:` + metric + `{R}, "what", "node $1", "signal", "(.+)")`)
		return "max by (" + d.cl + "node, namespace, pod, workload_kind, workload, what) (\n" + pods + "\nor\n" + nodes + "\n)"
	}
	ttl := union("ephemeral_storage_time_to_limit_seconds")
	ratio := union("ephemeral_storage_limit_ratio") + " and on (" + d.cl + "node, namespace, pod, workload_kind, workload, what) " + ttl
	cell := func(mode string) dashboard.DynamicConfigValue {
		return dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": mode}}
	}
	desc := "What the kubelet will evict next, soonest first: every emptyDir, container, pod and node bound whose usage grows toward it (docs/runbooks.md#time-to-limit: no entry for flat, shrinking, warming-up or saw-tooth usage). Red: under 30 min; orange: under 2 h."
	b := tbl("Next evictions", desc, "s", 24, 10, query{expr: ttl, legend: "Time to limit"}, query{expr: ratio, legend: "Ratio now"})
	return b.
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			{Id: "organize", Options: map[string]any{
				"excludeByName": map[string]any{"Time": true},
				"indexByName":   map[string]any{"Value #A": 0, "namespace": 1, "workload_kind": 2, "workload": 3, "pod": 4, "what": 5, "Value #B": 6, "node": 7},
				"renameByName": map[string]any{"Value #A": "Time to limit", "Value #B": "Ratio now", "namespace": "Namespace", "workload_kind": "Kind",
					"workload": "Workload", "pod": "Pod", "what": "Bound", "node": "Node", "cluster": "Cluster"},
			}},
		}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Time to limit").Desc(false)}).
		OverrideByName("Time to limit", []dashboard.DynamicConfigValue{
			{Id: "unit", Value: "s"}, cell("color-background"),
			{Id: "thresholds", Value: map[string]any{"mode": "absolute", "steps": []map[string]any{
				{"color": "red", "value": nil}, {"color": "orange", "value": 1800}, {"color": "green", "value": 7200}}}},
		}).
		OverrideByName("Ratio now", []dashboard.DynamicConfigValue{
			{Id: "unit", Value: "percentunit"}, cell("gauge"),
			{Id: "thresholds", Value: map[string]any{"mode": "absolute", "steps": []map[string]any{
				{"color": "green", "value": nil}, {"color": "orange", "value": 0.85}, {"color": "red", "value": 0.95}}}},
		}).
		OverrideByName("Workload", []dashboard.DynamicConfigValue{
			{Id: "links", Value: []map[string]any{{"title": "Workload dashboard",
				"url": "/d/" + uidWorkload + "?${__url_time_range}&var-datasource=${datasource}&var-namespace=${__data.fields.Namespace}&var-workload=${__data.fields.Workload}"}}},
		})
}

func (d *dash) overview() *dashboard.DashboardBuilder {
	ratioDesc := "Usage divided by the bound the kubelet enforces; the kubelet evicts the pod when it passes 100%."
	return d.base(uidOverview, "Ephemeral storage / Overview", "Cluster-wide: what the kubelet evicts next and when, evictions by cause, nodes near DiskPressure, read-only filesystem failures.").
		WithPanel(d.nextEvictions()).
		WithRow(dashboard.NewRowBuilder("Now")).
		WithPanel(st("Nodes with DiskPressure", "Nodes that have the DiskPressure condition.", "short", 4, 4, []float64{1},
			query{expr: d.x(`sum(ephemeral_storage_node_disk_pressure{S}) or vector(0)`)})).
		WithPanel(st("Pods evicted for storage", "Pods the kubelet evicted for local storage in the selected range.", "short", 4, 4, []float64{1},
			query{expr: d.x(`sum(increase(ephemeral_storage_evictions_total{S}[$__range])) or vector(0)`)})).
		WithPanel(st("Read-only write failures", "Writes that failed with Read-only file system in the selected range (per container, the source that saw most: one failure can show in both the termination message and the log).", "short", 4, 4, []float64{1},
			query{expr: d.x(`sum(max by (C node, namespace, workload_kind, workload, container) (increase(ephemeral_storage_read_only_write_failures_total{S}[$__range]))) or vector(0)`)})).
		WithPanel(st("Agents not reading the kubelet", "Nodes whose agent failed its last kubelet summary fetch.", "short", 4, 4, []float64{1},
			query{expr: d.x(`count(ephemeral_storage_exporter_kubelet_up{S} == 0) or vector(0)`)})).
		WithPanel(st("Highest emptyDir ratio", ratioDesc, "percentunit", 4, 4, []float64{0.85, 1},
			query{expr: d.x(`max(ephemeral_storage_volume_size_limit_ratio{S, volume_type="empty_dir", medium="disk"})`)})).
		WithPanel(st("Highest node eviction ratio", "Filesystem usage against the usage at which the kubelet's hard eviction threshold is met.", "percentunit", 4, 4, []float64{0.85, 1},
			query{expr: d.x(`max(ephemeral_storage_node_eviction_threshold_ratio{S})`)})).
		WithRow(dashboard.NewRowBuilder("Closest to eviction")).
		WithPanel(tbl("emptyDir volumes closest to their sizeLimit", ratioDesc, "percentunit", 8, 9,
			query{expr: d.workload(d.x(`topk(20, ephemeral_storage_volume_size_limit_ratio{S, volume_type="empty_dir", medium="disk"})`), "")})).
		WithPanel(tbl("Containers closest to their ephemeral-storage limit", ratioDesc, "percentunit", 8, 9,
			query{expr: d.workload(d.x(`topk(20, ephemeral_storage_container_limit_ratio{S})`), "")})).
		WithPanel(tbl("Pods closest to their ephemeral-storage limit", ratioDesc, "percentunit", 8, 9,
			query{expr: d.workload(d.x(`topk(20, ephemeral_storage_pod_limit_ratio{S})`), "")})).
		WithPanel(ts("Highest ratios over time", ratioDesc, "percentunit", 24, 8,
			query{expr: d.x(`topk(5, ephemeral_storage_volume_size_limit_ratio{S, volume_type="empty_dir", medium="disk"})`), legend: "emptyDir {{namespace}}/{{pod}} {{volume}}"},
			query{expr: d.x(`topk(5, ephemeral_storage_container_limit_ratio{S})`), legend: "container {{namespace}}/{{pod}} {{container}}"},
			query{expr: d.x(`topk(5, ephemeral_storage_pod_limit_ratio{S})`), legend: "pod {{namespace}}/{{pod}}"})).
		WithRow(dashboard.NewRowBuilder("Evictions")).
		WithPanel(ts("Evictions by cause", "Pods evicted by the kubelet for local storage, by cause.", "short", 12, 8,
			query{expr: d.x(`sum by (cause) (increase(ephemeral_storage_evictions_total{S}[$__rate_interval]))`), legend: "{{cause}}"})).
		WithPanel(tbl("Evicted workloads", "Evictions in the selected range by workload and cause.", "short", 12, 8,
			query{expr: d.x(`sum by (C namespace, workload_kind, workload, cause, volume, container, resource) (increase(ephemeral_storage_evictions_total{S}[$__range])) > 0`)})).
		WithRow(dashboard.NewRowBuilder("Nodes")).
		WithPanel(ts("Nodes closest to an eviction threshold", "Filesystem usage against the usage at which the signal's hard eviction threshold is met; past 100% the node gets DiskPressure.", "percentunit", 12, 8,
			query{expr: d.x(`topk(10, ephemeral_storage_node_eviction_threshold_ratio{S})`), legend: "{{node}} {{signal}}"})).
		WithPanel(ts("Node eviction events", "EvictionThresholdMet and NodeHasDiskPressure events.", "short", 12, 8,
			query{expr: d.x(`sum by (node, reason) (increase(ephemeral_storage_node_eviction_events_total{S}[$__rate_interval]))`), legend: "{{node}} {{reason}}"})).
		WithRow(dashboard.NewRowBuilder("Read-only filesystem")).
		WithPanel(ts("Read-only write failures by container", "Writes that failed with EROFS: a path that is not a mounted volume in a container with a read-only root filesystem. Per container, the source that saw most (a failure can show in both the termination message and the log).", "short", 24, 8,
			query{expr: d.x(`sum by (namespace, workload_kind, workload, container) (max by (C node, namespace, workload_kind, workload, container) (increase(ephemeral_storage_read_only_write_failures_total{S}[$__rate_interval])))`), legend: "{{namespace}}/{{workload}} {{container}}"}))
}

func (d *dash) node() *dashboard.DashboardBuilder {
	n := `, node="$node"`
	return d.base(uidNode, "Ephemeral storage / Node", "One node: filesystems against the kubelet's eviction thresholds, and the pods, volumes and containers using its ephemeral storage.").
		WithVariable(d.queryVar("node", "Node", "ephemeral_storage_exporter_kubelet_up{"+d.sel+"}", "node", false)).
		WithRow(dashboard.NewRowBuilder("Node")).
		WithPanel(st("DiskPressure", "1 while the node has the DiskPressure condition.", "short", 4, 4, []float64{1},
			query{expr: d.x(`max(ephemeral_storage_node_disk_pressure{S` + n + `})`)})).
		WithPanel(st("Dedicated imagefs", "1 when images live on their own filesystem (container writable layers then do not count against container limits).", "short", 4, 4, nil,
			query{expr: d.x(`max(ephemeral_storage_node_imagefs_dedicated{S` + n + `})`)})).
		WithPanel(st("Allocatable ephemeral-storage", "The node's allocatable ephemeral-storage.", "bytes", 4, 4, nil,
			query{expr: d.x(`max(ephemeral_storage_node_allocatable_bytes{S` + n + `})`)})).
		WithPanel(st("Kubelet readable", "1 when the agent's last kubelet summary fetch succeeded.", "short", 4, 4, nil,
			query{expr: d.x(`max(ephemeral_storage_exporter_kubelet_up{S` + n + `})`)})).
		WithPanel(st("Data age", "Age of the kubelet summary the series come from.", "s", 4, 4, []float64{60, 180},
			query{expr: d.x(`max(ephemeral_storage_exporter_data_age_seconds{S` + n + `})`)})).
		WithPanel(st("Pods without spec", "Pods whose limits are unknown to the agent.", "short", 4, 4, []float64{1},
			query{expr: d.x(`max(ephemeral_storage_exporter_pods_unmatched{S` + n + `})`)})).
		WithRow(dashboard.NewRowBuilder("Filesystems")).
		WithPanel(ts("Eviction threshold ratio", "Usage against the usage at which each hard eviction signal is met; past 100% the kubelet evicts.", "percentunit", 12, 8,
			query{expr: d.x(`ephemeral_storage_node_eviction_threshold_ratio{S` + n + `}`), legend: "{{signal}}"})).
		WithPanel(ts("Available vs eviction threshold", "Bytes available on each filesystem and the hard eviction threshold of its .available signal.", "bytes", 12, 8,
			query{expr: d.x(`ephemeral_storage_node_fs_available_bytes{S` + n + `}`), legend: "{{fs}} available"},
			query{expr: d.x(`ephemeral_storage_node_eviction_threshold_bytes{S` + n + `}`), legend: "{{signal}} threshold"})).
		WithPanel(ts("Filesystem used vs capacity", "Used bytes and capacity of each filesystem.", "bytes", 12, 8,
			query{expr: d.x(`ephemeral_storage_node_fs_used_bytes{S` + n + `}`), legend: "{{fs}} used"},
			query{expr: d.x(`ephemeral_storage_node_fs_capacity_bytes{S` + n + `}`), legend: "{{fs}} capacity"})).
		WithPanel(ts("Free inodes vs eviction threshold", "Free inodes and the hard eviction threshold of the .inodesFree signals.", "short", 12, 8,
			query{expr: d.x(`ephemeral_storage_node_fs_inodes_free{S` + n + `}`), legend: "{{fs}} free"},
			query{expr: d.x(`ephemeral_storage_node_eviction_threshold_inodes{S` + n + `}`), legend: "{{signal}} threshold"})).
		WithRow(dashboard.NewRowBuilder("Pods on the node")).
		WithPanel(ts("Top pods by ephemeral storage", "The pods using the most local ephemeral storage on the node.", "bytes", 12, 8,
			query{expr: d.x(`topk(10, ephemeral_storage_pod_usage_bytes{S` + n + `})`), legend: "{{namespace}}/{{pod}}"})).
		WithPanel(ts("Top emptyDir volumes", "The emptyDir volumes using the most bytes on the node.", "bytes", 12, 8,
			query{expr: d.x(`topk(10, ephemeral_storage_volume_used_bytes{S` + n + `, volume_type="empty_dir"})`), legend: "{{namespace}}/{{pod}} {{volume}} ({{medium}})"})).
		WithPanel(tbl("Pods by usage", "Ephemeral storage usage, limit and ratio of every pod on the node.", "bytes", 24, 10,
			query{expr: d.workload(d.x(`ephemeral_storage_pod_usage_bytes{S`+n+`}`), "")},
			query{expr: d.workload(d.x(`ephemeral_storage_pod_limit_bytes{S`+n+`}`), "")})).
		WithPanel(ts("Evictions on the node by cause", "Pods evicted by the kubelet on this node.", "short", 12, 8,
			query{expr: d.x(`sum by (cause) (increase(ephemeral_storage_evictions_total{S` + n + `}[$__rate_interval]))`), legend: "{{cause}}"})).
		WithPanel(ts("Kubelet summary errors", "Failed summary requests by kind.", "short", 12, 8,
			query{expr: d.x(`sum by (kind) (rate(ephemeral_storage_exporter_kubelet_errors_total{S` + n + `}[$__rate_interval]))`), legend: "{{kind}}"}))
}

func (d *dash) workloadDash() *dashboard.DashboardBuilder {
	w := `, namespace="$namespace", workload="$workload", pod=~"$pod"`
	j := func(q string) string { return d.workload(d.x(q), w) }
	ns := `, namespace="$namespace"`
	return d.base(uidWorkload, "Ephemeral storage / Workload", "One workload's pods: per container and per volume usage against limits and sizeLimits, evictions and read-only failures.").
		WithVariable(d.queryVar("namespace", "Namespace", "ephemeral_storage_pod_info{"+d.sel+"}", "namespace", false)).
		WithVariable(d.queryVar("workload", "Workload", "ephemeral_storage_pod_info{"+d.sel+ns+"}", "workload", false)).
		WithVariable(d.queryVar("pod", "Pod", "ephemeral_storage_pod_info{"+d.sel+ns+`, workload="$workload"}`, "pod", true)).
		WithRow(dashboard.NewRowBuilder("Ratios (evicted above 100%)")).
		WithPanel(ts("emptyDir usage / sizeLimit", "Disk emptyDirs are evicted above 100%; memory emptyDirs fail writes with ENOSPC at 100%.", "percentunit", 8, 8,
			query{expr: j(`ephemeral_storage_volume_size_limit_ratio{S, volume_type="empty_dir"}`), legend: "{{pod}} {{volume}} ({{medium}})"})).
		WithPanel(ts("Container usage / limit", "Logs, plus the writable layer without a dedicated imagefs, against the ephemeral-storage limit.", "percentunit", 8, 8,
			query{expr: j(`ephemeral_storage_container_limit_ratio{S}`), legend: "{{pod}} {{container}}"})).
		WithPanel(ts("Pod usage / limit", "The pod's ephemeral storage against the sum of its containers' limits.", "percentunit", 8, 8,
			query{expr: j(`ephemeral_storage_pod_limit_ratio{S}`), legend: "{{pod}}"})).
		WithRow(dashboard.NewRowBuilder("Volumes")).
		WithPanel(ts("Volume used vs sizeLimit", "Bytes used by each volume and the emptyDir's sizeLimit (for memory: the tmpfs size).", "bytes", 12, 8,
			query{expr: j(`ephemeral_storage_volume_used_bytes{S}`), legend: "{{pod}} {{volume}} used"},
			query{expr: j(`ephemeral_storage_volume_size_limit_bytes{S}`), legend: "{{pod}} {{volume}} sizeLimit"})).
		WithPanel(ts("Volume inodes used", "Inodes used by each volume.", "short", 12, 8,
			query{expr: j(`ephemeral_storage_volume_inodes_used{S}`), legend: "{{pod}} {{volume}}"})).
		WithRow(dashboard.NewRowBuilder("Containers")).
		WithPanel(ts("Container usage vs limit", "What the kubelet counts against the container's limit, and the limit.", "bytes", 12, 8,
			query{expr: j(`ephemeral_storage_container_usage_bytes{S}`), legend: "{{pod}} {{container}} usage"},
			query{expr: j(`ephemeral_storage_container_limit_bytes{S}`), legend: "{{pod}} {{container}} limit"},
			query{expr: j(`ephemeral_storage_container_request_bytes{S}`), legend: "{{pod}} {{container}} request"})).
		WithPanel(ts("Writable layer and logs", "Bytes written to each container's writable layer (rootfs) and of its logs.", "bytes", 12, 8,
			query{expr: j(`ephemeral_storage_container_rootfs_bytes{S}`), legend: "{{pod}} {{container}} rootfs"},
			query{expr: j(`ephemeral_storage_container_logs_bytes{S}`), legend: "{{pod}} {{container}} logs"})).
		WithRow(dashboard.NewRowBuilder("Pods")).
		WithPanel(ts("Pod usage vs limit", "The pod's ephemeral storage usage, request and limit.", "bytes", 12, 8,
			query{expr: j(`ephemeral_storage_pod_usage_bytes{S}`), legend: "{{pod}} usage"},
			query{expr: j(`ephemeral_storage_pod_limit_bytes{S}`), legend: "{{pod}} limit"},
			query{expr: j(`ephemeral_storage_pod_request_bytes{S}`), legend: "{{pod}} request"})).
		WithPanel(ts("Evictions and read-only write failures", "Pods of the workload evicted for storage, by cause, and EROFS write failures by container.", "short", 12, 8,
			query{expr: d.x(`sum by (cause) (increase(ephemeral_storage_evictions_total{S` + ns + `, workload="$workload"}[$__rate_interval]))`), legend: "evicted: {{cause}}"},
			query{expr: d.x(`sum by (container) (increase(ephemeral_storage_read_only_write_failures_total{S` + ns + `, workload="$workload"}[$__rate_interval]))`), legend: "EROFS: {{container}}"}))
}

func (d *dash) capacity() *dashboard.DashboardBuilder {
	ns := `, namespace=~"$namespace"`
	r := func(q string) string { return d.x(strings.ReplaceAll(q, "{R}", "{R"+ns+"}")) }
	rec := d.c.Recording
	mib := func(b float64) string { return fmt.Sprint(b/(1<<20)) + "Mi" }
	desc := "Observed peak (max over " + rec.PeakRange + " of the per-" + rec.Step + " max) per workload against what is configured, and the suggested size (one sizing model with advise, docs/advise.md#the-rules): " +
		"disk emptyDir sizeLimit = max(peak x " + fmt.Sprint(rec.Headroom) + ", " + mib(rec.Floor) + "); container request = (the pod's suggested disk emptyDir sizeLimits + its own peak) x " + fmt.Sprint(rec.Headroom) +
		", at least " + mib(rec.Floor) + " (an init container: its own peak only); limit = request x " + fmt.Sprint(rec.LimitFactor) + ", at least " + mib(rec.LogFloor) +
		" (kubelet log rotation); pod = the kubelet's sum: app + sidecar containers, or the largest init container + sidecars. From the capacity recording rules."
	return d.base(uidCapacity, "Ephemeral storage / Capacity", "Capacity planning: observed peak usage per workload against the configured sizeLimits, requests and limits, with suggested sizes.").
		WithVariable(d.queryVar("namespace", "Namespace", "ephemeral_storage_pod_info{"+d.sel+"}", "namespace", true)).
		WithRow(dashboard.NewRowBuilder("emptyDir sizeLimit")).
		WithPanel(tbl("emptyDir: peak vs sizeLimit", desc, "bytes", 24, 10,
			query{expr: r(`workload_volume:ephemeral_storage_volume_used_bytes:peak{R}`)},
			query{expr: r(`workload_volume:ephemeral_storage_volume_size_limit_bytes:max{R}`)},
			query{expr: r(`workload_volume:ephemeral_storage_volume_size_limit_bytes:suggested{R}`)})).
		WithPanel(ts("emptyDir peak / sizeLimit", "Close to 100%: the sizeLimit is too tight; far below: it reserves node disk for nothing.", "percentunit", 24, 8,
			query{expr: r(`workload_volume:ephemeral_storage_volume_used_bytes:peak{R} / workload_volume:ephemeral_storage_volume_size_limit_bytes:max{R}`), legend: "{{namespace}}/{{workload}} {{volume}}"})).
		WithRow(dashboard.NewRowBuilder("Container ephemeral-storage")).
		WithPanel(tbl("Containers: peak vs request and limit", desc, "bytes", 24, 10,
			query{expr: r(`workload_container:ephemeral_storage_container_usage_bytes:peak{R}`)},
			query{expr: r(`workload_container:ephemeral_storage_container_request_bytes:max{R}`)},
			query{expr: r(`workload_container:ephemeral_storage_container_limit_bytes:max{R}`)},
			query{expr: r(`workload_container:ephemeral_storage_container_request_bytes:suggested{R}`)},
			query{expr: r(`workload_container:ephemeral_storage_container_limit_bytes:suggested{R}`)})).
		WithRow(dashboard.NewRowBuilder("Pod ephemeral-storage")).
		WithPanel(tbl("Pods: peak vs request and limit", desc, "bytes", 24, 10,
			query{expr: r(`workload:ephemeral_storage_pod_usage_bytes:peak{R}`)},
			query{expr: r(`workload:ephemeral_storage_pod_request_bytes:max{R}`)},
			query{expr: r(`workload:ephemeral_storage_pod_limit_bytes:max{R}`)},
			query{expr: r(`workload:ephemeral_storage_pod_request_bytes:suggested{R}`)},
			query{expr: r(`workload:ephemeral_storage_pod_limit_bytes:suggested{R}`)})).
		WithPanel(ts("Pod peak / limit", "Peak usage of each workload's pods against their limit.", "percentunit", 24, 8,
			query{expr: r(`workload:ephemeral_storage_pod_usage_bytes:peak{R} / workload:ephemeral_storage_pod_limit_bytes:max{R}`), legend: "{{namespace}}/{{workload}}"}))
}

// withPanelIDs renders a dashboard with every panel numbered 1, 2, ... in layout order (rows and
// their panels included): stable ids for links and provisioning, the same on every generation.
func withPanelIDs(db any) ([]byte, error) {
	raw, err := json.Marshal(db)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	id := 0
	var walk func(ps []any)
	walk = func(ps []any) {
		for _, p := range ps {
			pm := p.(map[string]any)
			id++
			pm["id"] = id
			if sub, ok := pm["panels"].([]any); ok {
				walk(sub)
			}
		}
	}
	if ps, ok := m["panels"].([]any); ok {
		walk(ps)
	}
	return json.MarshalIndent(m, "", "  ")
}
