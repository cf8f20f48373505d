package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Config is alerts/config.yaml.
type Config struct {
	Selectors struct {
		Job          string `yaml:"job"`
		ClusterLabel string `yaml:"cluster_label"`
	} `yaml:"selectors"`
	RunbookBaseURL string `yaml:"runbook_base_url"`
	PrometheusRule struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"prometheus_rule"`
	Alerts      map[string]*AlertParams `yaml:"alerts"`
	TimeToLimit TimeToLimit             `yaml:"time_to_limit"`
	OptOut      []OptOut                `yaml:"opt_out"`
	Recording   struct {
		Step        string  `yaml:"step"`
		PeakRange   string  `yaml:"peak_range"`
		Headroom    float64 `yaml:"headroom"`
		LimitFactor float64 `yaml:"limit_factor"`
		Floor       float64 `yaml:"floor"`
		LogFloor    float64 `yaml:"log_floor"`
	} `yaml:"recording"`
}

// TimeToLimit is the method of the time-to-limit recording rules (see timeToLimitRules).
type TimeToLimit struct {
	FastRange       string  `yaml:"fast_range"`
	SlowRange       string  `yaml:"slow_range"`
	MinGrowth       float64 `yaml:"min_growth"`
	MinAge          string  `yaml:"min_age"`
	HighWaterRange  string  `yaml:"high_water_range"`
	HighWaterOffset string  `yaml:"high_water_offset"`
}

// OptOut names a workload whose pods never alert.
type OptOut struct {
	Namespace string `yaml:"namespace"`
	Workload  string `yaml:"workload"`
}

// AlertParams are the tunables of one alert; which ones an alert uses is declared by its definition.
type AlertParams struct {
	Warning     *float64 `yaml:"warning"`
	Critical    *float64 `yaml:"critical"`
	For         string   `yaml:"for"`
	CriticalFor string   `yaml:"critical_for"`
	// time-to-limit alerts: fire when the bound is reached within the horizon
	WarningHorizon  string   `yaml:"warning_horizon"`
	CriticalHorizon string   `yaml:"critical_horizon"`
	KeepFiringFor   string   `yaml:"keep_firing_for"`
	Range           string   `yaml:"range"`
	Horizon         string   `yaml:"horizon"`
	MinRatio        *float64 `yaml:"min_ratio"`
	MinBytes        *float64 `yaml:"min_bytes"`
	Window          string   `yaml:"window"`
	MaxSeconds      *float64 `yaml:"max_seconds"`
}

// set lists the parameters that are set, by YAML key.
func (p *AlertParams) set() []string {
	var s []string
	add := func(k string, ok bool) {
		if ok {
			s = append(s, k)
		}
	}
	add("warning", p.Warning != nil)
	add("critical", p.Critical != nil)
	add("for", p.For != "")
	add("critical_for", p.CriticalFor != "")
	add("keep_firing_for", p.KeepFiringFor != "")
	add("warning_horizon", p.WarningHorizon != "")
	add("critical_horizon", p.CriticalHorizon != "")
	add("range", p.Range != "")
	add("horizon", p.Horizon != "")
	add("min_ratio", p.MinRatio != nil)
	add("min_bytes", p.MinBytes != nil)
	add("window", p.Window != "")
	add("max_seconds", p.MaxSeconds != nil)
	return s
}

// LoadConfig reads and validates the config strictly (unknown keys are errors).
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if c.Selectors.Job == "" {
		return nil, fmt.Errorf("selectors.job is required")
	}
	if c.RunbookBaseURL == "" {
		return nil, fmt.Errorf("runbook_base_url is required")
	}
	for _, d := range []string{c.Recording.Step, c.Recording.PeakRange} {
		if _, err := model.ParseDuration(d); err != nil {
			return nil, fmt.Errorf("recording: %w", err)
		}
	}
	t := c.TimeToLimit
	for _, d := range []string{t.FastRange, t.SlowRange, t.MinAge, t.HighWaterRange, t.HighWaterOffset} {
		if _, err := model.ParseDuration(d); err != nil {
			return nil, fmt.Errorf("time_to_limit: %w", err)
		}
	}
	if t.MinGrowth <= 0 || t.MinGrowth >= 1 {
		return nil, fmt.Errorf("time_to_limit.min_growth must be in (0, 1)")
	}
	for _, o := range c.OptOut {
		if o.Namespace == "" || o.Workload == "" {
			return nil, fmt.Errorf("opt_out: namespace and workload are required: %+v", o)
		}
	}
	if c.Recording.LogFloor <= 0 {
		return nil, fmt.Errorf("recording: log_floor must be > 0")
	}
	if c.Recording.Floor <= 0 {
		return nil, fmt.Errorf("recording: floor must be > 0")
	}
	if c.Recording.Headroom < 1 || c.Recording.LimitFactor < 1 {
		return nil, fmt.Errorf("recording: headroom and limit_factor must be >= 1")
	}
	for name, p := range c.Alerts {
		if p == nil {
			return nil, fmt.Errorf("alerts.%s: empty", name)
		}
		for _, d := range []string{p.For, p.CriticalFor, p.KeepFiringFor, p.WarningHorizon, p.CriticalHorizon, p.Range, p.Horizon, p.Window} {
			if d == "" {
				continue
			}
			if _, err := model.ParseDuration(d); err != nil {
				return nil, fmt.Errorf("alerts.%s: %w", name, err)
			}
		}
	}
	return &c, nil
}

// checkParams verifies that the alerts in the config are exactly the defined ones and that each
// sets exactly the parameters its definition uses.
func (c *Config) checkParams(defs []alertDef) error {
	var errs []string
	seen := map[string]bool{}
	for _, d := range defs {
		seen[d.Name] = true
		p, ok := c.Alerts[d.Name]
		if !ok {
			errs = append(errs, fmt.Sprintf("alerts.%s: missing", d.Name))
			continue
		}
		got := strings.Join(p.set(), ",")
		want := append([]string(nil), d.Params...)
		sort.Slice(want, func(i, j int) bool { return keyOrder(want[i]) < keyOrder(want[j]) })
		if got != strings.Join(want, ",") {
			errs = append(errs, fmt.Sprintf("alerts.%s: sets [%s], the alert uses [%s]", d.Name, got, strings.Join(want, ",")))
		}
	}
	for name := range c.Alerts {
		if !seen[name] {
			errs = append(errs, fmt.Sprintf("alerts.%s: no such alert", name))
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return fmt.Errorf("alerts/config.yaml:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

func keyOrder(k string) int {
	for i, o := range []string{"warning", "critical", "for", "critical_for", "keep_firing_for", "warning_horizon", "critical_horizon", "range", "horizon", "min_ratio", "min_bytes", "window", "max_seconds"} {
		if o == k {
			return i
		}
	}
	return 99
}
