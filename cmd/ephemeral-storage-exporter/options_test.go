package main

import (
	"bytes"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/internal/cli/flagdoc"
)

// registered returns each subcommand's flags (the application's included) by name, without
// kingpin's own help and version flags.
func registered(t *testing.T) map[string]map[string]*kingpin.FlagModel {
	app, _ := newApp()
	model := app.Model()
	out := map[string]map[string]*kingpin.FlagModel{}
	for _, cmd := range model.Commands {
		out[cmd.Name] = flagdoc.Registered(model.Flags, cmd.Flags)
	}
	require.Len(t, out, 3)
	return out
}

// Every documented flag exists, with the documented default, on the subcommand it is documented
// for; every registered flag is documented in docs/architecture.md.
func TestFlagsDocumented(t *testing.T) {
	reg := registered(t)
	arch := flagdoc.Tables(t, "../../docs/architecture.md")
	for cmd, flags := range reg {
		documented := map[string]bool{}
		for _, section := range []string{"Every subcommand", cmd} {
			require.NotEmpty(t, arch[section], "docs/architecture.md has no flag table under %q", section)
			for _, row := range arch[section] {
				for _, name := range row.Flags {
					assert.Contains(t, flags, name, "docs/architecture.md %q documents --%s, which %s does not accept", section, name, cmd)
					documented[name] = true
				}
				flagdoc.CheckDefaults(t, "docs/architecture.md "+section, row, flags)
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
		rows := flagdoc.Tables(t, file)[want.section]
		require.NotEmpty(t, rows, "%s has no flag table under %q", file, want.section)
		for _, row := range rows {
			for _, name := range row.Flags {
				assert.Contains(t, reg[want.cmd], name, "%s documents --%s, which %s does not accept", file, name, want.cmd)
			}
			flagdoc.CheckDefaults(t, file, row, reg[want.cmd])
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
