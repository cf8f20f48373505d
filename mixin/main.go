// Command mixin renders the alerting/recording rules and the Grafana dashboards of
// ephemeral-storage-exporter from alerts/config.yaml. Run it with `make alerts` from the
// repository root, or `go run .` from mixin/.
//
// `go run . -config FILE -out DIR` renders the same files from another config (e.g. the e2e
// suite's copy with short windows, test/e2e/testdata/alerts-config.yaml) into DIR (DIR/alerts/,
// DIR/dashboards/) instead of the repository.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// addRunbooks adds docs/runbooks.md with a fresh alerts table to files.
func addRunbooks(root, configPath string, files map[string][]byte) error {
	c, err := LoadConfig(configPath)
	if err != nil {
		return err
	}
	md, err := os.ReadFile(filepath.Join(root, "docs", "runbooks.md"))
	if err != nil {
		return err
	}
	b, err := withAlertsTable(c, md)
	if err != nil {
		return err
	}
	files["docs/runbooks.md"] = b
	return nil
}

// Generate renders every generated file, keyed by its path relative to the repository root.
func Generate(root string) (map[string][]byte, error) {
	return GenerateFrom(filepath.Join(root, "alerts", "config.yaml"))
}

// GenerateFrom renders every generated file from the config at configPath.
func GenerateFrom(configPath string) (map[string][]byte, error) {
	c, err := LoadConfig(configPath)
	if err != nil {
		return nil, err
	}
	groups, err := c.Groups()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	if out["alerts/rules.yaml"], err = RulesFile(groups); err != nil {
		return nil, err
	}
	if out["alerts/prometheusrule.yaml"], err = c.PrometheusRuleFile(groups); err != nil {
		return nil, err
	}
	if out[chartTemplatesPath], err = c.ChartTemplatesFile(); err != nil {
		return nil, err
	}
	dbs, err := c.Dashboards()
	if err != nil {
		return nil, err
	}
	for name, b := range dbs {
		out["dashboards/"+name] = b
	}
	return out, nil
}

// withAlertsTable returns docs/runbooks.md with the generated alerts table between its markers.
func withAlertsTable(c *Config, md []byte) ([]byte, error) {
	const begin, end = "<!-- BEGIN generated alerts table -->\n", "<!-- END generated alerts table -->"
	i, j := bytes.Index(md, []byte(begin)), bytes.Index(md, []byte(end))
	if i < 0 || j < i {
		return nil, fmt.Errorf("docs/runbooks.md: no %q ... %q markers", begin, end)
	}
	var b bytes.Buffer
	b.Write(md[:i+len(begin)])
	b.WriteString("| Alert | Severity | Complements / replaces |\n|---|---|---|\n")
	for _, d := range alertDefs {
		p := c.Alerts[d.Name]
		sev := d.Severity
		switch {
		case p.WarningHorizon != "":
			sev = "warning (" + p.WarningHorizon + " to limit), critical (" + p.CriticalHorizon + ")"
		case p.Warning != nil && p.Critical != nil:
			sev = "warning, critical"
		case p.Warning != nil:
			sev = "warning"
		case p.Critical != nil:
			sev = "critical"
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s |\n", d.Name, strings.ToLower(d.Name), sev, d.Complements)
	}
	b.Write(md[j:])
	return b.Bytes(), nil
}

func main() {
	root := flag.String("root", "..", "repository root")
	check := flag.Bool("check", false, "only report files that are not up to date")
	config := flag.String("config", "", "config to render from (default: ROOT/alerts/config.yaml)")
	outDir := flag.String("out", "", "directory to write the rendered files under (default: ROOT)")
	flag.Parse()
	if *config == "" {
		*config = filepath.Join(*root, "alerts", "config.yaml")
	}
	if *outDir == "" {
		*outDir = *root
	}
	files, err := GenerateFrom(*config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *outDir == *root {
		// the runbooks' alerts table, only for the repository's own config
		if err := addRunbooks(*root, *config, files); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	stale := 0
	for _, n := range names {
		p := filepath.Join(*outDir, n)
		old, _ := os.ReadFile(p)
		if bytes.Equal(old, files[n]) {
			continue
		}
		stale++
		if *check {
			fmt.Printf("stale: %s\n", n)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s\n", n)
	}
	if *check && stale > 0 {
		os.Exit(1)
	}
}
