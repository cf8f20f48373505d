package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// registered returns each subcommand's flags (the application's included) by name, without
// kingpin's own help and version flags.
func registered(t *testing.T) map[string]map[string]*kingpin.FlagModel {
	app, _ := newApp()
	model := app.Model()
	out := map[string]map[string]*kingpin.FlagModel{}
	for _, cmd := range model.Commands {
		flags := map[string]*kingpin.FlagModel{}
		for _, f := range append(append([]*kingpin.FlagModel{}, model.Flags...), cmd.Flags...) {
			if f.Hidden || f.Name == "help" || f.Name == "version" {
				continue
			}
			flags[f.Name] = f
		}
		out[cmd.Name] = flags
	}
	require.Len(t, out, 4)
	return out
}

var (
	flagName  = regexp.MustCompile("`--([a-z][a-z0-9.-]*)`")
	backticks = regexp.MustCompile("^`([^`]*)`$")
)

// docRow is one row of a flag table: the flags of its first cell and its default cell.
type docRow struct {
	flags    []string
	defaults string
}

// flagTables reads the flag tables of a Markdown file by section: the rows under each heading
// whose first cell names flags.
func flagTables(t *testing.T, path string) map[string][]docRow {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string][]docRow{}
	section, fenced := "", false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if strings.HasPrefix(line, "#") && !fenced {
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "|"), "|"), "|")
		if len(cells) < 3 {
			continue
		}
		var row docRow
		for _, m := range flagName.FindAllStringSubmatch(cells[0], -1) {
			row.flags = append(row.flags, m[1])
		}
		row.defaults = strings.TrimSpace(cells[len(cells)-2])
		out[section] = append(out[section], row)
	}
	return out
}

// checkDefaults compares a row's defaults, given in the same order as its flags, where the
// table states them literally (a backticked value, true, false or nothing); prose is skipped.
func checkDefaults(t *testing.T, where string, row docRow, flags map[string]*kingpin.FlagModel) {
	cells := strings.Split(row.defaults, ", ")
	if len(cells) != len(row.flags) {
		return // one prose default for several flags
	}
	for i, name := range row.flags {
		f := flags[name]
		if f == nil {
			continue
		}
		want := strings.Join(f.Default, ",")
		if want == "" && f.IsBoolFlag() {
			want = "false"
		}
		got, literal := strings.TrimSpace(cells[i]), false
		switch m := backticks.FindStringSubmatch(got); {
		case m != nil:
			got, literal = m[1], true
		case got == "true" || got == "false" || got == "":
			literal = true
		}
		if literal {
			assert.Equal(t, want, got, "%s: default of --%s", where, name)
		}
	}
}

// Every documented flag exists, with the documented default, on the subcommand it is documented
// for; every registered flag is documented in docs/architecture.md.
func TestFlagsDocumented(t *testing.T) {
	reg := registered(t)
	arch := flagTables(t, "../../docs/architecture.md")
	for cmd, flags := range reg {
		documented := map[string]bool{}
		for _, section := range []string{"Every subcommand", cmd} {
			require.NotEmpty(t, arch[section], "docs/architecture.md has no flag table under %q", section)
			for _, row := range arch[section] {
				for _, name := range row.flags {
					assert.Contains(t, flags, name, "docs/architecture.md %q documents --%s, which %s does not accept", section, name, cmd)
					documented[name] = true
				}
				checkDefaults(t, "docs/architecture.md "+section, row, flags)
			}
		}
		for name := range flags {
			assert.True(t, documented[name], "--%s of %s is not in docs/architecture.md", name, cmd)
		}
	}
	for file, want := range map[string]struct{ section, cmd string }{
		"../../README.md":      {"Flags", cmdServe},
		"../../docs/advise.md": {"Sizing advice: `advise`", cmdAdvise},
	} {
		rows := flagTables(t, file)[want.section]
		require.NotEmpty(t, rows, "%s has no flag table under %q", file, want.section)
		for _, row := range rows {
			for _, name := range row.flags {
				assert.Contains(t, reg[want.cmd], name, "%s documents --%s, which %s does not accept", file, name, want.cmd)
			}
			checkDefaults(t, file, row, reg[want.cmd])
		}
	}
}

// Each subcommand accepts only the flags it reads.
func TestSubcommandsRegisterOnlyTheirFlags(t *testing.T) {
	reg := registered(t)
	for cmd, absent := range map[string][]string{
		cmdAdvise: {"web.listen-address", "web.config.file", "web.telemetry-path", "web.max-requests", "web.probe-address", "node.name", "kubelet.mode", "logscan.enabled"},
		cmdReplay: {"web.probe-address", "node.name", "kubelet.mode", "kubeconfig", "logscan.enabled", "sample"},
		cmdServe:  {"summary", "pods", "once", "window", "prometheus.url"},
		cmdEvents: {"node.name", "kubelet.mode", "kubelet.url", "logscan.enabled", "eviction.hard", "events.cluster-watch", "summary"},
	} {
		for _, name := range absent {
			assert.NotContains(t, reg[cmd], name, cmd)
		}
	}
	_, _, err := parse([]string{cmdAdvise, "--sample", "--web.listen-address=:1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown long flag '--web.listen-address'")
}

// --help of a subcommand lists its flags with their defaults, and no other subcommand's.
func TestHelpPerSubcommand(t *testing.T) {
	for cmd, want := range map[string]struct{ has, hasNot []string }{
		cmdServe:  {[]string{"--kubelet.timeout=5s", "--web.listen-address=:9847 ...", "--log.level=info"}, []string{"--window", "--once"}},
		cmdReplay: {[]string{"--[no-]once", "--web.telemetry-path=\"/metrics\"", "--kubelet.imagefs=auto"}, []string{"--node.name", "--window"}},
		cmdAdvise: {[]string{"--window=\"7d\"", "--headroom=1.2", "--output=table"}, []string{"--web.", "--node.name"}},
	} {
		app, _ := newApp()
		var out bytes.Buffer
		app.UsageWriter(&out)
		app.Terminate(func(int) {})
		_, _ = app.Parse([]string{cmd, "--help"})
		for _, s := range want.has {
			assert.Contains(t, out.String(), s, cmd)
		}
		for _, s := range want.hasNot {
			assert.NotContains(t, out.String(), s, cmd)
		}
	}
}

// Validate refuses what would fail later, naming the flag.
func TestValidate(t *testing.T) {
	serve := []string{cmdServe, "--node.name=n"}
	for _, tc := range []struct {
		name string
		args []string
		err  string // empty: valid
	}{
		{"serve", serve, ""},
		{"default subcommand is serve", []string{"--node.name=n", "--kubelet.timeout=0s"}, "--kubelet.timeout 0s: must be positive"},
		{"serve without node", []string{cmdServe}, "--node.name (or NODE_NAME) is required"},
		{"zero interval", append(serve, "--kubelet.min-interval=0s"), "--kubelet.min-interval 0s: must be positive"},
		{"zero staleness", append(serve, "--kubelet.max-staleness=0s"), "--kubelet.max-staleness 0s: must be positive"},
		{"zero response size", append(serve, "--kubelet.max-response-size=0B"), "--kubelet.max-response-size 0B: must be positive"},
		{"zero log line", append(serve, "--logscan.max-line-bytes=0B"), "--logscan.max-line-bytes 0B: must be positive"},
		{"negative resync", append(serve, "--kube.resync=-1s"), "--kube.resync -1s: must be 0 (no resync) or more"},
		{"bad thresholds", append(serve, "--eviction.hard=nodefs.available<lots"), "--eviction.hard: "},
		{"relative telemetry path", append(serve, "--web.telemetry-path=metrics"), `--web.telemetry-path "metrics": must start with /`},
		{"negative max requests", append(serve, "--web.max-requests=-1"), "--web.max-requests -1: must be 0 (no limit) or more"},
		{"replay sample", []string{cmdReplay, "--once"}, ""},
		{"replay summary without pods", []string{cmdReplay, "--summary=s.json"}, "--pods is required with --summary"},
		{"replay pods without summary", []string{cmdReplay, "--pods=p.yaml"}, "--pods and --node go with --summary"},
		{"advise sample", []string{cmdAdvise, "--sample"}, ""},
		{"advise prometheus", []string{cmdAdvise, "--prometheus.url=http://127.0.0.1:1", "--selector=cluster=\"a\"", "--end=2026-01-01T00:00:00Z"}, ""},
		{"advise no source", []string{cmdAdvise}, "advise needs exactly one of"},
		{"advise two sources", []string{cmdAdvise, "--sample", "--prometheus.url=http://127.0.0.1:1"}, "advise needs exactly one of"},
		{"advise summary without pods", []string{cmdAdvise, "--summary=s.json"}, "--pods is required with --summary"},
		{"advise headroom below 1", []string{cmdAdvise, "--sample", "--headroom=0.9"}, "--headroom 0.9: below 1"},
		{"advise zero timeout", []string{cmdAdvise, "--sample", "--prometheus.timeout=0s"}, "--prometheus.timeout 0s: must be positive"},
		{"advise bad window", []string{cmdAdvise, "--prometheus.url=http://127.0.0.1:1", "--window=a week"}, "--window: "},
		{"advise bad selector", []string{cmdAdvise, "--prometheus.url=http://127.0.0.1:1", "--selector=cluster=prod"}, "--selector: "},
		{"advise bad end", []string{cmdAdvise, "--prometheus.url=http://127.0.0.1:1", "--end=yesterday"}, "--end: "},
		{"advise bad thresholds", []string{cmdAdvise, "--sample", "--eviction.hard=x"}, "--eviction.hard: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NODE_NAME", "")
			_, _, err := parse(tc.args)
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}
