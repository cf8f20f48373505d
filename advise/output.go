package advise

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Output formats.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatPatch = "patch"
)

// Formats lists the output formats.
var Formats = []string{FormatTable, FormatJSON, FormatPatch}

// Write renders the report in a format.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatTable:
		return r.WriteTable(w)
	case FormatJSON:
		return r.WriteJSON(w)
	case FormatPatch:
		return r.WritePatch(w)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// WriteJSON renders the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable renders the report as aligned text tables, one block per workload.
func (r *Report) WriteTable(w io.Writer) error {
	b := &errWriter{w: w}
	b.printf("Ephemeral-storage advice\n")
	b.printf("source: %s\n", r.Source)
	b.printf("basis:  %s\n", r.Basis)
	b.printf("at:     %s\n", r.End.Format("2006-01-02T15:04:05Z07:00"))
	b.printf("rules:  emptyDir sizeLimit = peak x %s, rounded up, at least %s; container request = (pod's disk emptyDir sizeLimits + container peak) x %s (init containers: own peak only); limit = %s x request, at least the log rotation floor; pod limit as the kubelet sums it; read-only root safe when at most %s was written\n",
		trimFloat(r.Headroom), Quantity(r.FloorBytes), trimFloat(r.RequestOverhead), trimFloat(r.LimitFactor), Quantity(r.ReadOnlyTolerance))
	b.printf("logs:   container limits at least %s = containerLogMaxSize %s x containerLogMaxFiles %d (%s)\n",
		Quantity(r.LogFloorBytes), Quantity(r.LogRotation.MaxSize), r.LogRotation.MaxFiles, r.LogRotation.Source)
	for _, n := range r.Notes {
		b.printf("note:   %s\n", n)
	}
	if len(r.Workloads) == 0 {
		b.printf("\nno workloads observed\n")
	}
	for _, wl := range r.Workloads {
		b.printf("\n== %s %s/%s\n", wl.Namespace, wl.Kind, wl.Name)
		if len(wl.EmptyDirs) > 0 {
			t := b.table()
			fmt.Fprintln(t, "  EMPTYDIR (DISK)\tPEAK\tSIZELIMIT\tSUGGESTED\tCHANGE")
			for _, e := range wl.EmptyDirs {
				fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\n", e.Volume, human(e.PeakBytes), human(e.SizeLimitBytes), e.SuggestedSizeLimit, e.Change)
			}
			b.flush(t)
		}
		if len(wl.MemoryEmptyDirs) > 0 {
			t := b.table()
			fmt.Fprintln(t, "  EMPTYDIR (MEMORY)\tPEAK\tSIZE LIMIT\tHEADROOM\tUSED\tSPEC SIZELIMIT\tSUGGESTED\tCHANGE")
			for _, m := range wl.MemoryEmptyDirs {
				used := "-"
				if m.UsedRatio != nil {
					used = strconv.FormatFloat(*m.UsedRatio*100, 'f', 0, 64) + "%"
				}
				spec := human(m.SpecSizeLimitBytes)
				if m.Change == ChangeCheck {
					spec = "?"
				}
				fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Volume, human(m.PeakBytes), human(m.SizeLimitBytes), human(m.HeadroomBytes), used,
					spec, m.SuggestedSizeLimit, m.Change)
			}
			b.flush(t)
		}
		if len(wl.Containers) > 0 {
			t := b.table()
			fmt.Fprintln(t, "  CONTAINER\tTYPE\tPEAK\tREQUEST\tLIMIT\tSUGGESTED REQUEST\tSUGGESTED LIMIT\tREAD-ONLY ROOT")
			for _, c := range wl.Containers {
				fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Container, dash(c.Type), human(c.PeakBytes), human(c.RequestBytes), human(c.LimitBytes),
					c.SuggestedRequest, c.SuggestedLimit, readOnlyText(c.ReadOnlyRoot))
			}
			b.flush(t)
		}
		if len(wl.MemoryEmptyDirs) > 0 {
			b.printf("  memory emptyDirs count against the pod's memory limit: add their sizeLimits to the containers' memory limits\n")
		}
		if wl.SuggestedPodLimit != "" {
			b.printf("  pod: suggested limit %s (the kubelet's sum: app and sidecar limits, or the largest init container with the sidecars)\n", wl.SuggestedPodLimit)
		}
		switch {
		case wl.Evictions == nil:
			b.printf("  evictions: unknown\n")
		case len(wl.Evictions) == 0:
			b.printf("  evictions: none\n")
		default:
			parts := make([]string, 0, len(wl.Evictions))
			for _, e := range wl.Evictions {
				parts = append(parts, fmt.Sprintf("%s %d", e.Cause, e.Count))
			}
			b.printf("  evictions: %s\n", strings.Join(parts, ", "))
		}
		switch {
		case wl.ReadOnlyFailures == nil:
			b.printf("  read-only write failures: unknown\n")
		case len(wl.ReadOnlyFailures) == 0:
			b.printf("  read-only write failures: none\n")
		default:
			parts := make([]string, 0, len(wl.ReadOnlyFailures))
			for _, f := range wl.ReadOnlyFailures {
				parts = append(parts, fmt.Sprintf("%s %d", f.Container, f.Count))
			}
			b.printf("  read-only write failures: %s (mount an emptyDir at the path each writes)\n", strings.Join(parts, ", "))
		}
	}
	return b.err
}

func readOnlyText(ro ReadOnlyRootInfo) string {
	switch ro.Verdict {
	case ReadOnlySafe:
		return fmt.Sprintf("safe to enable (%s written)", human(ro.RootfsPeakBytes))
	case ReadOnlyWrites:
		return fmt.Sprintf("not yet: %s written; mount an emptyDir (sizeLimit %s) where it writes", human(ro.RootfsPeakBytes), ro.SuggestedEmptyDirSizeLimit)
	}
	return ro.Verdict
}

// patchableKinds are the apps/v1 workloads whose pod template a strategic merge patch changes.
var patchableKinds = map[string]string{"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset", "ReplicaSet": "replicaset"}

// WritePatch renders one strategic-merge patch per workload, as YAML documents. Each sets the
// containers' ephemeral-storage requests and limits, the disk emptyDirs' sizeLimits and
// readOnlyRootFilesystem: true where it is safe. Apply one with
// `kubectl -n NS patch KIND NAME --type strategic --patch-file FILE`. Workloads that are not
// apps/v1 (Jobs, static pods, bare pods) get the same values as a comment: their pod template
// cannot be patched in place.
func (r *Report) WritePatch(w io.Writer) error {
	b := &errWriter{w: w}
	b.printf("# Ephemeral-storage advice as strategic-merge patches, one YAML document per workload.\n")
	b.printf("# source: %s\n# basis: %s\n# at: %s\n", r.Source, r.Basis, r.End.Format("2006-01-02T15:04:05Z07:00"))
	for _, wl := range r.Workloads {
		body := patchBody(wl)
		if body == "" {
			continue
		}
		b.printf("---\n")
		resource, ok := patchableKinds[wl.Kind]
		if !ok {
			b.printf("# %s %s/%s: not an apps/v1 workload, its pod template cannot be patched in place;\n", wl.Namespace, wl.Kind, wl.Name)
			b.printf("# change these values where the pods are defined (%s).\n", where(wl.Kind))
			for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
				b.printf("#   %s\n", line)
			}
			continue
		}
		b.printf("# kubectl -n %s patch %s %s --type strategic --patch-file FILE\n", wl.Namespace, resource, wl.Name)
		b.printf("apiVersion: apps/v1\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n", wl.Kind, wl.Name, wl.Namespace)
		b.printf("%s", body)
	}
	return b.err
}

func where(kind string) string {
	switch kind {
	case "Job":
		return "the Job or CronJob manifest"
	case "Node":
		return "the static pod manifest on the node"
	case "Pod":
		return "the pod manifest, then recreate the pod"
	}
	return "the " + kind + " manifest"
}

// patchBody is the spec.template.spec part of a workload's patch, or "" when there is nothing
// to set.
func patchBody(wl WorkloadAdvice) string {
	var containers, initContainers, volumes strings.Builder
	for _, c := range wl.Containers {
		out := &containers
		if c.Type == "init" || c.Type == "sidecar" {
			out = &initContainers
		}
		fmt.Fprintf(out, "      - name: %s\n", c.Container)
		fmt.Fprintf(out, "        resources:\n          requests:\n            ephemeral-storage: %s\n          limits:\n            ephemeral-storage: %s\n", c.SuggestedRequest, c.SuggestedLimit)
		if c.ReadOnlyRoot.Verdict == ReadOnlySafe {
			fmt.Fprintf(out, "        securityContext:\n          readOnlyRootFilesystem: true\n")
		}
	}
	for _, e := range wl.EmptyDirs {
		fmt.Fprintf(&volumes, "      - name: %s\n        emptyDir:\n          sizeLimit: %s\n", e.Volume, e.SuggestedSizeLimit)
	}
	for _, m := range wl.MemoryEmptyDirs {
		// Only where the spec is known to set none: lowering a tmpfs under what the app expects
		// fails its writes with ENOSPC, which is for a person to decide.
		if m.Change == ChangeSet {
			fmt.Fprintf(&volumes, "      - name: %s\n        emptyDir:\n          medium: Memory\n          sizeLimit: %s\n", m.Volume, m.SuggestedSizeLimit)
		}
	}
	if containers.Len()+initContainers.Len()+volumes.Len() == 0 {
		return ""
	}
	var s strings.Builder
	s.WriteString("spec:\n  template:\n    spec:\n")
	for _, part := range []struct {
		key string
		b   *strings.Builder
	}{{"containers", &containers}, {"initContainers", &initContainers}, {"volumes", &volumes}} {
		if part.b.Len() > 0 {
			s.WriteString("      " + part.key + ":\n" + part.b.String())
		}
	}
	return s.String()
}

// human prints bytes compactly in binary units: 4Ki, 700Mi, 1.7Gi; "-" when unknown.
func human(b *int64) string {
	if b == nil {
		return "-"
	}
	v := float64(*b)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	for _, u := range []struct {
		unit string
		size float64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if v >= u.size {
			return sign + trimFloat(roundTo(v/u.size, 1)) + u.unit
		}
	}
	return sign + strconv.FormatFloat(v, 'f', 0, 64) + "B"
}

func roundTo(v float64, decimals int) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', decimals, 64), 64)
	return p
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (e *errWriter) table() *tabwriter.Writer { return tabwriter.NewWriter(e, 0, 0, 2, ' ', 0) }

func (e *errWriter) flush(t *tabwriter.Writer) {
	if err := t.Flush(); err != nil && e.err == nil {
		e.err = err
	}
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
