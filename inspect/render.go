package inspect

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"

	"sigs.k8s.io/yaml"
)

// Output formats (-o).
const (
	OutputTable = ""
	OutputWide  = "wide"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// Outputs are the accepted -o values.
var Outputs = []string{OutputWide, OutputJSON, OutputYAML}

// ValidOutput checks an -o value.
func ValidOutput(o string) error {
	switch o {
	case OutputTable, OutputWide, OutputJSON, OutputYAML:
		return nil
	}
	return fmt.Errorf("-o %q: want one of %s", o, strings.Join(Outputs, ", "))
}

// TopReport is what top prints: the rows and the nodes that could not be read.
type TopReport struct {
	Rows        []Row       `json:"rows"`
	FailedNodes []NodeError `json:"failedNodes,omitempty"`
	// Watched is set when the rows carry growth from a second sample.
	Watched bool `json:"-"`
}

// WriteTop prints a top report. Failed nodes go to errw in table formats, and into the document
// in json and yaml, so that stdout stays one parseable document.
func WriteTop(w, errw io.Writer, rep *TopReport, output string) error {
	switch output {
	case OutputJSON, OutputYAML:
		if rep.Rows == nil {
			rep.Rows = []Row{} // "rows": [], not null, for scripts
		}
		return writeDocument(w, rep, output)
	}
	if err := writeTopTable(w, rep, output == OutputWide); err != nil {
		return err
	}
	writeFailed(errw, rep.FailedNodes)
	return nil
}

func writeDocument(w io.Writer, v any, output string) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if output == OutputYAML {
		if raw, err = yaml.JSONToYAML(raw); err != nil {
			return err
		}
	} else {
		raw = append(raw, '\n')
	}
	_, err = w.Write(raw)
	return err
}

func writeTopTable(w io.Writer, rep *TopReport, wide bool) error {
	if len(rep.Rows) == 0 {
		_, err := fmt.Fprintln(w, "No bounded ephemeral storage found: no selected pod, container or emptyDir has a limit.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := []string{"NAMESPACE", "POD", "BOUNDED", "USAGE", "BOUND", "RATIO"}
	if wide {
		header = append([]string{"NODE"}, header...)
	}
	if rep.Watched {
		header = append(header, "GROWTH", "TO LIMIT")
	}
	header = append(header, "EVICTED WHEN")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range rep.Rows {
		writeCells(tw, tableCells(&rep.Rows[i], wide, rep.Watched))
	}
	return tw.Flush()
}

// writeCells prints one table line. Names come from the kubelet and the API server: control
// characters are dropped so that a name cannot break the table or drive the terminal.
func writeCells(w io.Writer, cells []string) {
	for i := range cells {
		cells[i] = printable(cells[i])
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

func tableCells(r *Row, wide, watched bool) []string {
	namespace, pod, bounded := dash(r.Namespace), dash(r.Pod), r.Bounded()
	if r.Kind == KindSignal && !wide {
		bounded = "node " + r.Node + " " + r.Name
	}
	cells := []string{namespace, pod, bounded, formatAmount(r.Usage, r.Inodes), formatAmount(r.Bound, r.Inodes), formatRatio(r.Ratio)}
	if wide {
		cells = append([]string{r.Node}, cells...)
	}
	if watched {
		growth, eta := "-", "-"
		if r.GrowthPerSecond != nil {
			growth = formatRate(*r.GrowthPerSecond, r.Inodes)
		}
		if r.SecondsToLimit != nil {
			eta = formatETA(*r.SecondsToLimit)
		}
		cells = append(cells, growth, eta)
	}
	return append(cells, r.EvictedWhen)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeFailed(w io.Writer, failed []NodeError) {
	if len(failed) == 0 {
		return
	}
	fmt.Fprintf(w, "Partial results: %d node(s) could not be read:\n", len(failed))
	for _, f := range failed {
		fmt.Fprintf(w, "  %s: %s\n", printable(f.Node), printable(f.Reason))
	}
}
