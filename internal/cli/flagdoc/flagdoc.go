// Package flagdoc checks the flag tables of the docs against a kingpin command line, for the tests
// of every binary (the agent, the events role): each documented flag exists with the documented
// default, and each registered flag is documented.
package flagdoc

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Registered returns the flags of the application and a command by name, without kingpin's own
// help and version flags.
func Registered(groups ...[]*kingpin.FlagModel) map[string]*kingpin.FlagModel {
	flags := map[string]*kingpin.FlagModel{}
	for _, g := range groups {
		for _, f := range g {
			if f.Hidden || f.Name == "help" || f.Name == "version" {
				continue
			}
			flags[f.Name] = f
		}
	}
	return flags
}

var (
	flagName  = regexp.MustCompile("`--([a-z][a-z0-9.-]*)`")
	backticks = regexp.MustCompile("^`([^`]*)`$")
)

// Row is one row of a flag table: the flags of its first cell and its default cell.
type Row struct {
	Flags    []string
	Defaults string
}

// Tables reads the flag tables of a Markdown file by section: the rows under each heading
// whose first cell names flags.
func Tables(t *testing.T, path string) map[string][]Row {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string][]Row{}
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
		var row Row
		for _, m := range flagName.FindAllStringSubmatch(cells[0], -1) {
			row.Flags = append(row.Flags, m[1])
		}
		row.Defaults = strings.TrimSpace(cells[len(cells)-2])
		out[section] = append(out[section], row)
	}
	return out
}

// CheckDefaults compares a row's defaults, given in the same order as its flags, where the
// table states them literally (a backticked value, true, false or nothing); prose is skipped.
func CheckDefaults(t *testing.T, where string, row Row, flags map[string]*kingpin.FlagModel) {
	t.Helper()
	cells := strings.Split(row.Defaults, ", ")
	if len(cells) != len(row.Flags) {
		return // one prose default for several flags
	}
	for i, name := range row.Flags {
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
