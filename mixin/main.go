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
)

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
	dbs, err := c.Dashboards()
	if err != nil {
		return nil, err
	}
	for name, b := range dbs {
		out["dashboards/"+name] = b
	}
	return out, nil
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
