package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

const root = ".."

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The committed rules and dashboards are what the generator renders from alerts/config.yaml.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"alerts/prometheusrule.yaml", "alerts/rules.yaml",
		"dashboards/ephemeral-storage-capacity.json", "dashboards/ephemeral-storage-node.json",
		"dashboards/ephemeral-storage-overview.json", "dashboards/ephemeral-storage-workload.json",
		chartTemplatesPath,
	}
	var got []string
	for n := range files {
		got = append(got, n)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("generated files %v, want %v", got, want)
	}
	for n, b := range files {
		if !bytes.Equal(read(t, n), b) {
			t.Errorf("%s is stale: run `make alerts` and commit the result", n)
		}
	}
}

type rulesFile struct {
	Groups []Group `yaml:"groups"`
}

func loadRules(t *testing.T) rulesFile {
	t.Helper()
	var rf rulesFile
	dec := yaml.NewDecoder(bytes.NewReader(read(t, "alerts/rules.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatal(err)
	}
	if len(rf.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	return rf
}

func TestPrometheusRuleHasTheSameGroups(t *testing.T) {
	rf := loadRules(t)
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec rulesFile `yaml:"spec"`
	}
	if err := yaml.Unmarshal(read(t, "alerts/prometheusrule.yaml"), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name == "" {
		t.Errorf("bad PrometheusRule header: %s %s %q", pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	a, _ := json.Marshal(rf.Groups)
	b, _ := json.Marshal(pr.Spec.Groups)
	if !bytes.Equal(a, b) {
		t.Error("alerts/prometheusrule.yaml spec.groups differ from alerts/rules.yaml groups")
	}
}

// documentedMetrics are the names in the tables of docs/metrics.md (histograms with their series).
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	row := regexp.MustCompile("^\\| `([a-z_:]+)` \\| (\\w+) \\|")
	names := map[string]bool{}
	s := bufio.NewScanner(bytes.NewReader(read(t, "docs/metrics.md")))
	for s.Scan() {
		m := row.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		names[m[1]] = true
		if m[2] == "histogram" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+suf] = true
			}
		}
	}
	if len(names) < 30 {
		t.Fatalf("found only %d metrics in docs/metrics.md", len(names))
	}
	return names
}

// allowedMetrics: documented metrics, recorded series, and Prometheus' own `up`.
func allowedMetrics(t *testing.T, rf rulesFile) map[string]bool {
	ok := documentedMetrics(t)
	ok["up"] = true
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				ok[r.Record] = true
			}
		}
	}
	return ok
}

var grafanaVar = regexp.MustCompile(`\$\{?[A-Za-z_]`)

var grafanaMacros = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// checkExpr parses a PromQL expression and reports selectors of unknown metrics.
func checkExpr(t *testing.T, where, q string, allowed map[string]bool) {
	t.Helper()
	q = grafanaMacros.Replace(q)
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, q)
		return
	}
	n := 0
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		n++
		if vs.Name == "" {
			t.Errorf("%s: selector without a metric name: %s", where, vs)
		} else if !allowed[vs.Name] && vs.Name != optOutSeries {
			t.Errorf("%s: metric %s is neither in docs/metrics.md nor recorded", where, vs.Name)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("%s: no metric in %q", where, q)
	}
	if grafanaVar.MatchString(q) && !strings.Contains(where, "dashboards/") {
		t.Errorf("%s: rule expression contains a variable: %s", where, q)
	}
}

func TestRuleExpressions(t *testing.T) {
	rf := loadRules(t)
	allowed := allowedMetrics(t, rf)
	var alerts, records int
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			checkExpr(t, g.Name+"/"+r.Alert+r.Record, r.Expr, allowed)
			if r.Alert != "" {
				alerts++
			} else {
				records++
			}
		}
	}
	t.Logf("%d alerting rules, %d recording rules", alerts, records)
}

// githubAnchors are the anchors GitHub gives the headings of a markdown file.
func githubAnchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	s := bufio.NewScanner(bytes.NewReader(md))
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		anchors[a] = true
	}
	return anchors
}

func TestAlertsAnnotationsAndRunbooks(t *testing.T) {
	rf := loadRules(t)
	c, err := LoadConfig(filepath.Join(root, "alerts", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := githubAnchors(read(t, "docs/runbooks.md"))
	name := regexp.MustCompile(`^[A-Z][a-z]+[A-Za-z]*$`)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			seen[r.Alert] = true
			if !name.MatchString(r.Alert) {
				t.Errorf("%s: not an <Object><Condition> name", r.Alert)
			}
			switch r.Labels["severity"] {
			case "info", "warning", "critical":
			default:
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			a := r.Annotations
			if a == nil || a.Summary == "" || a.Description == "" || a.RunbookURL == "" {
				t.Errorf("%s: needs summary, description and runbook_url: %+v", r.Alert, a)
				continue
			}
			anchor := strings.ToLower(r.Alert)
			if a.RunbookURL != c.RunbookBaseURL+"#"+anchor {
				t.Errorf("%s: runbook_url %s", r.Alert, a.RunbookURL)
			}
			if !anchors[anchor] {
				t.Errorf("%s: docs/runbooks.md has no section #%s", r.Alert, anchor)
			}
		}
	}
	for _, d := range alertDefs {
		if !seen[d.Name] {
			t.Errorf("alert %s not rendered", d.Name)
		}
	}
}

func TestConfigRejectsUnknownParameters(t *testing.T) {
	c, err := LoadConfig(filepath.Join(root, "alerts", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Alerts["EphemeralStorageNodeDiskPressure"].Window = "5m"
	if _, err := c.Groups(); err == nil {
		t.Error("a parameter the alert does not use was accepted")
	}
	delete(c.Alerts, "EphemeralStorageNodeDiskPressure")
	if _, err := c.Groups(); err == nil {
		t.Error("a missing alert was accepted")
	}
}

// panel is the part of a dashboard panel the tests look at.
type panel struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Datasource struct {
		Uid string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			Uid string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func TestDashboards(t *testing.T) {
	rf := loadRules(t)
	allowed := allowedMetrics(t, rf)
	uids := map[string]string{
		"ephemeral-storage-overview.json": uidOverview,
		"ephemeral-storage-node.json":     uidNode,
		"ephemeral-storage-workload.json": uidWorkload,
		"ephemeral-storage-capacity.json": uidCapacity,
	}
	rangeSel := regexp.MustCompile(`\[([^\]]+)\]`)
	for file, uid := range uids {
		raw := read(t, "dashboards/"+file)
		var sdk dashboard.Dashboard
		if err := sdk.UnmarshalJSONStrict(raw); err != nil && err.Error() != "" {
			t.Errorf("%s: %v", file, err)
		}
		var db struct {
			UID        string  `json:"uid"`
			Title      string  `json:"title"`
			Panels     []panel `json:"panels"`
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Type       string `json:"type"`
					Query      any    `json:"query"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &db); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if db.UID != uid {
			t.Errorf("%s: uid %q, want %q", file, db.UID, uid)
		}
		vars := map[string]string{}
		for _, v := range db.Templating.List {
			vars[v.Name] = v.Type
			if v.Type == "query" {
				m := regexp.MustCompile(`^label_values\((.+), \w+\)$`).FindStringSubmatch(v.Definition)
				if m == nil {
					t.Errorf("%s: variable %s: unexpected query %q", file, v.Name, v.Definition)
					continue
				}
				checkExpr(t, "dashboards/"+file+" $"+v.Name, m[1], allowed)
			}
		}
		if vars["datasource"] != "datasource" || vars["cluster"] != "query" {
			t.Errorf("%s: needs $datasource and $cluster variables, has %v", file, vars)
		}
		n := 0
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				n++
				where := "dashboards/" + file + " " + p.Title
				if p.FieldConfig.Defaults.Unit == "" {
					t.Errorf("%s: no unit", where)
				}
				if p.Datasource.Uid != "${datasource}" {
					t.Errorf("%s: datasource %q", where, p.Datasource.Uid)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no query", where)
				}
				for _, tg := range p.Targets {
					if tg.RefID == "" || tg.Datasource.Uid != "${datasource}" {
						t.Errorf("%s: target without refId or $datasource", where)
					}
					if !strings.Contains(tg.Expr, `cluster="$cluster"`) {
						t.Errorf("%s: query not filtered by $cluster: %s", where, tg.Expr)
					}
					for _, m := range rangeSel.FindAllStringSubmatch(tg.Expr, -1) {
						if (strings.Contains(tg.Expr, "rate(") || strings.Contains(tg.Expr, "increase(")) && m[1] != "$__rate_interval" && m[1] != "$__range" {
							t.Errorf("%s: range %s; use $__rate_interval (or $__range for totals)", where, m[0])
						}
					}
					checkExpr(t, where, tg.Expr, allowed)
				}
			}
		}
		walk(db.Panels)
		t.Logf("%s: %d panels", file, n)
		if n < 4 {
			t.Errorf("%s: only %d panels", file, n)
		}
	}
}

// Every alert has promtool unit tests in alerts/tests (cases that fire and cases that must not).
func TestEveryAlertHasPromtoolTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "alerts", "tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests: %v", err)
	}
	type alertTest struct {
		Alertname string `yaml:"alertname"`
		ExpAlerts []any  `yaml:"exp_alerts"`
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf struct {
			Tests []struct {
				AlertRuleTest []alertTest `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for _, d := range alertDefs {
		if !fires[d.Name] || !quiet[d.Name] {
			t.Errorf("%s: alerts/tests needs a case where it fires (%v) and one where it must not (%v)", d.Name, fires[d.Name], quiet[d.Name])
		}
	}
}

// optOutSeries is recorded only when a workload is opted out (config opt_out, Helm prometheusRule.optOut).
const optOutSeries = "ephemeral_storage:alert_opt_out"

// Every panel has a unique id, the first overview panel is the next-evictions table sorted by
// time to limit, and every table names its value columns (no "Value #A" on screen).
func TestPanelIDsAndColumnNames(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if !strings.HasPrefix(name, "dashboards/") {
			continue
		}
		var db struct {
			Panels []map[string]any `json:"panels"`
		}
		if err := json.Unmarshal(b, &db); err != nil {
			t.Fatal(err)
		}
		seen := map[float64]bool{}
		var walk func(ps []any)
		check := func(p map[string]any) {
			id, _ := p["id"].(float64)
			if id == 0 || seen[id] {
				t.Errorf("%s: panel %q: id %v missing or repeated", name, p["title"], p["id"])
			}
			seen[id] = true
			if p["type"] != "table" {
				return
			}
			targets, _ := p["targets"].([]any)
			var rename map[string]any
			for _, tr := range p["transformations"].([]any) {
				if o, ok := tr.(map[string]any)["options"].(map[string]any)["renameByName"].(map[string]any); ok {
					rename = o
				}
			}
			for i := range targets {
				col := "Value"
				if len(targets) > 1 {
					col = "Value #" + string(rune('A'+i))
				}
				if n, _ := rename[col].(string); n == "" {
					t.Errorf("%s: table %q: column %s has no name", name, p["title"], col)
				}
			}
		}
		walk = func(ps []any) {
			for _, p := range ps {
				check(p.(map[string]any))
				if sub, ok := p.(map[string]any)["panels"].([]any); ok {
					walk(sub)
				}
			}
		}
		var all []any
		for _, p := range db.Panels {
			all = append(all, p)
		}
		walk(all)
		if name == "dashboards/ephemeral-storage-overview.json" {
			first := db.Panels[0]
			if first["title"] != "Next evictions" || first["type"] != "table" {
				t.Errorf("overview: first panel is %q (%v), want the Next evictions table", first["title"], first["type"])
			}
			sortBy := fmt.Sprint(first["options"].(map[string]any)["sortBy"])
			if !strings.Contains(sortBy, "Time to limit") {
				t.Errorf("overview: next evictions sorted by %s, want Time to limit", sortBy)
			}
		}
	}
}
