package main

import (
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
)

// The Helm chart cannot run this generator, so for prometheusRule.alertOverrides it ships every
// alerting rule rendered with placeholders (files/alert-templates.yaml) and the defaults of
// alerts/config.yaml; templates/prometheusrule.yaml substitutes the merged values into the rules
// of an overridden alert. Rules of alerts without overrides come from files/rules.yaml unchanged.
//
// Placeholders are found by rendering with sentinel values no real config uses, then replacing
// the sentinels' text with <<param>> (<<param_seconds>> where PromQL wants seconds).
const chartTemplatesPath = "deploy/helm/ephemeral-storage-exporter/files/alert-templates.yaml"

var sentinelRatios = map[string]float64{"warning": 0.1234567, "critical": 0.7654321}

var sentinelDurations = map[string]string{
	"for": "1007m", "critical_for": "1009m", "keep_firing_for": "1013m", "range": "1019m", "window": "1021m",
	"warning_horizon": "1031h", "critical_horizon": "1033h",
}

var sentinelNumbers = map[string]float64{"min_bytes": 987654321, "max_seconds": 98765}

type chartRule struct {
	Alert         string            `yaml:"alert"`
	Severity      string            `yaml:"severity"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Annotations   map[string]string `yaml:"annotations"`
}

// ChartTemplatesFile renders files/alert-templates.yaml.
func (c *Config) ChartTemplatesFile() ([]byte, error) {
	sc := *c
	sc.Alerts = map[string]*AlertParams{}
	for name, p := range c.Alerts {
		q := *p
		if q.Warning != nil {
			q.Warning = ptr(sentinelRatios["warning"])
		}
		if q.Critical != nil {
			q.Critical = ptr(sentinelRatios["critical"])
		}
		for k, v := range map[string]*string{"for": &q.For, "critical_for": &q.CriticalFor, "keep_firing_for": &q.KeepFiringFor,
			"range": &q.Range, "window": &q.Window, "warning_horizon": &q.WarningHorizon, "critical_horizon": &q.CriticalHorizon} {
			if *v != "" {
				*v = sentinelDurations[k]
			}
		}
		if q.MinBytes != nil {
			q.MinBytes = ptr(sentinelNumbers["min_bytes"])
		}
		if q.MaxSeconds != nil {
			q.MaxSeconds = ptr(sentinelNumbers["max_seconds"])
		}
		sc.Alerts[name] = &q
	}
	groups, err := sc.Groups()
	if err != nil {
		return nil, err
	}
	var pairs []string
	for k, v := range sentinelRatios {
		pairs = append(pairs, strconv.FormatFloat(v, 'f', -1, 64), "<<"+k+">>")
	}
	for k, v := range sentinelNumbers {
		pairs = append(pairs, strconv.FormatFloat(v, 'f', -1, 64), "<<"+k+">>")
	}
	for k, v := range sentinelDurations {
		md, _ := model.ParseDuration(v)
		pairs = append(pairs, strconv.FormatFloat(secs(v), 'f', -1, 64), "<<"+k+"_seconds>>", v, "<<"+k+">>", md.String(), "<<"+k+">>")
	}
	rep := strings.NewReplacer(sortPairs(pairs)...)
	var rules []chartRule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			rules = append(rules, chartRule{
				Alert: r.Alert, Severity: r.Labels["severity"], Expr: rep.Replace(r.Expr),
				For: rep.Replace(r.For), KeepFiringFor: rep.Replace(r.KeepFiringFor),
				Annotations: map[string]string{"summary": rep.Replace(r.Annotations.Summary), "description": rep.Replace(r.Annotations.Description)},
			})
		}
	}
	defaults := map[string]map[string]string{}
	for name, p := range c.Alerts {
		d := map[string]string{}
		f := func(v *float64) string { return strconv.FormatFloat(*v, 'f', -1, 64) }
		if p.Warning != nil {
			d["warning"] = f(p.Warning)
		}
		if p.Critical != nil {
			d["critical"] = f(p.Critical)
		}
		if p.MinBytes != nil {
			d["min_bytes"] = f(p.MinBytes)
		}
		if p.MaxSeconds != nil {
			d["max_seconds"] = f(p.MaxSeconds)
		}
		for k, v := range map[string]string{"for": p.For, "critical_for": p.CriticalFor, "keep_firing_for": p.KeepFiringFor,
			"range": p.Range, "window": p.Window, "warning_horizon": p.WarningHorizon, "critical_horizon": p.CriticalHorizon} {
			if v != "" {
				d[k] = v
			}
		}
		defaults[name] = d
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Alert+rules[i].Severity < rules[j].Alert+rules[j].Severity })
	return marshalYAML(header, map[string]any{"defaults": defaults, "rules": rules})
}

func ptr(f float64) *float64 { return &f }

// sortPairs orders replacement pairs longest old string first (ties by text): NewReplacer tries
// pairs in order at a position, and map iteration must not decide the output.
func sortPairs(pairs []string) []string {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool {
		if len(ps[i].old) != len(ps[j].old) {
			return len(ps[i].old) > len(ps[j].old)
		}
		return ps[i].old < ps[j].old
	})
	out := make([]string, 0, len(pairs))
	for _, p := range ps {
		out = append(out, p.old, p.new)
	}
	return out
}
