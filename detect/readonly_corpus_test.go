package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type corpusCase struct {
	name, locale string
	failures     int
	paths        []string // "" for a failure that names no path
	command      string
}

// loadCorpus reads testdata/readonly/cases.tsv, written by hack/readonly-corpus/record.sh.
func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "readonly", "cases.tsv"))
	require.NoError(t, err)
	var cases []corpusCase
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 5)
		require.Len(t, f, 5, line)
		n, err := strconv.Atoi(f[2])
		require.NoError(t, err, line)
		c := corpusCase{name: f[0], locale: f[1], failures: n, command: f[4]}
		if f[3] != "" {
			for _, p := range strings.Split(f[3], "|") {
				if p == "-" {
					p = ""
				}
				c.paths = append(c.paths, p)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func failurePaths(fs []ReadOnlyFailure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

// TestReadOnlyCorpus: every recorded program's output counts one failure per failed write, with
// the path it printed, in both locales; the negatives count nothing.
func TestReadOnlyCorpus(t *testing.T) {
	cases := loadCorpus(t)
	require.GreaterOrEqual(t, len(cases), 80, "the recording has lost cases")
	perProgram := map[string][2]int{} // program -> messages, with a path
	for _, c := range cases {
		t.Run(c.name+"."+c.locale, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "testdata", "readonly", c.name+"."+c.locale+".log"))
			require.NoError(t, err)
			got := ReadOnlyFailures(string(raw))
			require.Len(t, got, c.failures, "command: %s\nfailures: %+v", c.command, got)
			assert.Equal(t, c.paths, failurePaths(got), "command: %s", c.command)
			for _, f := range got {
				assert.Contains(t, string(raw), f.Message)
			}
		})
		program, _, _ := strings.Cut(c.name, "-")
		if strings.HasPrefix(c.name, "neg-") {
			program = c.name
		}
		n := perProgram[program]
		n[0] += c.failures
		for _, p := range c.paths {
			if p != "" {
				n[1]++
			}
		}
		perProgram[program] = n
	}
	programs := make([]string, 0, len(perProgram))
	for p := range perProgram {
		programs = append(programs, p)
	}
	sort.Strings(programs)
	var report strings.Builder
	for _, p := range programs {
		fmt.Fprintf(&report, "%-22s failures=%d with_path=%d\n", p, perProgram[p][0], perProgram[p][1])
	}
	t.Logf("per program, both locales:\n%s", report.String())
}

// TestReadOnlySynthetic: shapes the recording cannot make (image pulls, mount information).
func TestReadOnlySynthetic(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "readonly", "synthetic-cases.tsv"))
	require.NoError(t, err)
	n := 0
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		require.Len(t, f, 3, line)
		n++
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			path, ok := ParseReadOnly(f[2])
			assert.Equal(t, f[0] == "1", ok, f[2])
			if f[0] == "1" {
				want := f[1]
				if want == "-" {
					want = ""
				}
				assert.Equal(t, want, path, f[2])
			}
			assert.Equal(t, ok, MayBeReadOnly([]byte(f[2])) && ok, "prefilter must pass what the parser takes: %s", f[2])
		})
	}
	require.Equal(t, 9, n)
}
