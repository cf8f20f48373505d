package advise

import (
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

// FailedWrite is a write that failed on a container's read-only root filesystem.
type FailedWrite struct {
	Workload  Workload
	Container string
	Path      string
}

// ReadOnlyMount is the fix for the read-only failures of one container: a writable emptyDir at
// Dir. Dir is empty when no directory is safe to hide (a system directory, a relative path).
type ReadOnlyMount struct {
	Workload  Workload `json:"workload"`
	Container string   `json:"container"`
	Dir       string   `json:"mountPath,omitempty"`
	Volume    string   `json:"volume,omitempty"`
	SizeLimit string   `json:"sizeLimit,omitempty"`
	Basis     string   `json:"sizeBasis,omitempty"`
	Paths     []string `json:"paths"`
}

// Size limits by kind of directory, from the project's sizing reference: 10 MB for socket, PID
// and lock directories (/run, /var/run; PostgreSQL's socket directory), 1 GB for caches (nginx's
// proxy cache starts there), 100 MB for most web applications' /tmp and logs.
const (
	runDirSizeLimit   = "10Mi"
	cacheSizeLimit    = "1Gi"
	defaultSizeLimit  = "100Mi"
	maxReadOnlyPath   = 512
	maxPathsPerFixing = 64
)

// readOnlySizeLimit is the sizeLimit for an emptyDir at dir holding paths, and why.
func readOnlySizeLimit(dir string, paths []string) (limit, basis string) {
	under := func(root string) bool { return dir == root || strings.HasPrefix(dir, root+"/") }
	switch {
	case under("/run") || under("/var/run"):
		return runDirSizeLimit, "socket, PID and lock directory"
	case slices.ContainsFunc(paths, isRuntimeFile):
		return runDirSizeLimit, "socket, PID or lock files"
	case under("/var/cache"):
		return cacheSizeLimit, "cache directory"
	case under("/var/log"):
		return defaultSizeLimit, "log directory"
	case under("/tmp"):
		return defaultSizeLimit, "temporary files"
	}
	return defaultSizeLimit, "default for most applications"
}

func isRuntimeFile(p string) bool {
	base := path.Base(p)
	for _, suffix := range []string{".pid", ".sock", ".lock"} {
		if strings.HasSuffix(base, suffix) {
			return true
		}
	}
	return strings.HasPrefix(base, ".s.PGSQL.")
}

// ReadOnlyMounts turns failures into one mount per container: at the deepest directory all its
// failing paths share, or, when that is not safe to hide, one per directory of a failing path.
func ReadOnlyMounts(failures []FailedWrite) []ReadOnlyMount {
	type key struct {
		wl        Workload
		container string
	}
	byContainer := map[key][]string{}
	for _, f := range failures {
		k := key{f.Workload, f.Container}
		if !slices.Contains(byContainer[k], f.Path) && len(byContainer[k]) < maxPathsPerFixing {
			byContainer[k] = append(byContainer[k], f.Path)
		}
	}
	var out []ReadOnlyMount
	for k, paths := range byContainer {
		sort.Strings(paths)
		groups := [][]string{paths}
		if _, ok := detect.SuggestMountDir(paths); !ok && len(paths) > 1 {
			groups = groupByDir(paths)
		}
		for _, g := range groups {
			m := ReadOnlyMount{Workload: k.wl, Container: k.container, Paths: g}
			if dir, ok := detect.SuggestMountDir(g); ok {
				m.Dir, m.Volume = dir, volumeName(dir)
				m.SizeLimit, m.Basis = readOnlySizeLimit(dir, g)
			}
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Workload != b.Workload {
			return a.Workload.Namespace+"/"+a.Workload.Kind+"/"+a.Workload.Name < b.Workload.Namespace+"/"+b.Workload.Kind+"/"+b.Workload.Name
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		return a.Dir < b.Dir
	})
	return out
}

// groupByDir groups paths by the directory each alone would get.
func groupByDir(paths []string) [][]string {
	var dirs []string
	byDir := map[string][]string{}
	for _, p := range paths {
		dir, _ := detect.SuggestMountDir([]string{p})
		if _, seen := byDir[dir]; !seen {
			dirs = append(dirs, dir)
		}
		byDir[dir] = append(byDir[dir], p)
	}
	sort.Strings(dirs)
	out := make([][]string, 0, len(dirs))
	for _, d := range dirs {
		out = append(out, byDir[d])
	}
	return out
}

// volumeName is a DNS label naming the emptyDir after its directory: /var/cache/nginx ->
// writable-var-cache-nginx.
func volumeName(dir string) string {
	var b strings.Builder
	b.WriteString("writable")
	for _, r := range strings.ToLower(dir) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.TrimRight(b.String(), "-")
	if len(name) > validation.DNS1123LabelMaxLength {
		name = strings.TrimRight(name[:validation.DNS1123LabelMaxLength], "-")
	}
	return name
}

// FailedWritesFromEvents reads the agent's ReadOnlyWriteFailed Events. Events are untrusted:
// anyone who may create Events in a namespace may write one, so only well-formed ones count
// (names the API server would accept, an absolute bounded UTF-8 path) and the mount directory is
// computed here again, never taken from the Event.
func FailedWritesFromEvents(events []corev1.Event) []FailedWrite {
	var out []FailedWrite
	for _, ev := range events {
		if ev.Reason != detect.ReadOnlyHintReason || ev.InvolvedObject.Kind != "Pod" {
			continue
		}
		a := ev.Annotations
		wl := Workload{Namespace: ev.InvolvedObject.Namespace, Kind: a[detect.HintAnnotationWorkloadKind], Name: a[detect.HintAnnotationWorkload]}
		if wl.Kind == "" {
			wl.Kind, wl.Name = "Pod", ev.InvolvedObject.Name
		}
		container, p := a[detect.HintAnnotationContainer], a[detect.HintAnnotationPath]
		if len(validation.IsDNS1123Label(wl.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(wl.Name)) > 0 ||
			len(validation.IsDNS1123Label(container)) > 0 || len(validation.IsCIdentifier(wl.Kind)) > 0 ||
			len(p) > maxReadOnlyPath || !utf8.ValidString(p) || !path.IsAbs(p) || strings.ContainsAny(p, "\x00\n\r") {
			continue
		}
		out = append(out, FailedWrite{Workload: wl, Container: container, Path: path.Clean(p)})
	}
	return out
}

// WriteReadOnlyPatches renders one strategic-merge patch per workload that mounts an emptyDir
// where its containers failed to write. Apply one with
// `kubectl -n NS patch KIND NAME --type strategic --patch-file FILE`.
func WriteReadOnlyPatches(w io.Writer, mounts []ReadOnlyMount) error {
	b := &errWriter{w: w}
	b.printf("# Writable directories for read-only root filesystems, as strategic-merge patches.\n")
	if len(mounts) == 0 {
		b.printf("# no read-only failures found\n")
		return b.err
	}
	for i := 0; i < len(mounts); {
		j := i
		for j < len(mounts) && mounts[j].Workload == mounts[i].Workload {
			j++
		}
		writeReadOnlyPatch(b, mounts[i:j])
		i = j
	}
	return b.err
}

func writeReadOnlyPatch(b *errWriter, mounts []ReadOnlyMount) {
	wl := mounts[0].Workload
	b.printf("---\n")
	var usable []ReadOnlyMount
	for _, m := range mounts {
		b.printf("# %s: failed to write %s\n", m.Container, strings.Join(m.Paths, ", "))
		if m.Dir == "" {
			b.printf("#   no directory is safe to mount over (a system directory or a relative path): make the program write under a dedicated directory and mount that\n")
			continue
		}
		b.printf("# warning: an emptyDir at %s hides what the image has under that directory\n", m.Dir)
		usable = append(usable, m)
	}
	resource, patchable := patchableKinds[wl.Kind]
	if len(usable) == 0 {
		return
	}
	body := readOnlyPatchBody(usable)
	if !patchable {
		b.printf("# %s %s/%s: not an apps/v1 workload, its pod template cannot be patched in place;\n", wl.Namespace, wl.Kind, wl.Name)
		b.printf("# add these where the pods are defined (%s).\n", where(wl.Kind))
		for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
			b.printf("#   %s\n", line)
		}
		return
	}
	b.printf("# kubectl -n %s patch %s %s --type strategic --patch-file FILE\n", wl.Namespace, resource, wl.Name)
	b.printf("apiVersion: apps/v1\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n", wl.Kind, wl.Name, wl.Namespace)
	b.printf("%s", body)
}

func readOnlyPatchBody(mounts []ReadOnlyMount) string {
	var s strings.Builder
	s.WriteString("spec:\n  template:\n    spec:\n      containers:\n")
	for i, m := range mounts {
		if i == 0 || mounts[i-1].Container != m.Container {
			fmt.Fprintf(&s, "      - name: %s\n        volumeMounts:\n", m.Container)
		}
		fmt.Fprintf(&s, "        - name: %s\n          mountPath: %s\n", m.Volume, yamlString(m.Dir))
	}
	s.WriteString("      volumes:\n")
	seen := map[string]bool{}
	for _, m := range mounts {
		if seen[m.Volume] {
			continue
		}
		seen[m.Volume] = true
		fmt.Fprintf(&s, "      - name: %s\n        emptyDir:\n          sizeLimit: %s\n", m.Volume, m.SizeLimit)
	}
	return s.String()
}

// yamlString quotes a path for YAML: JSON strings are YAML.
func yamlString(s string) string { return fmt.Sprintf("%q", s) }

// WriteReadOnlyTable renders the mounts as an aligned table.
func WriteReadOnlyTable(w io.Writer, mounts []ReadOnlyMount) error {
	b := &errWriter{w: w}
	b.printf("Writable directories for read-only root filesystems (an emptyDir hides what the image has under its mountPath)\n")
	if len(mounts) == 0 {
		b.printf("\nno read-only failures found\n")
		return b.err
	}
	t := b.table()
	fmt.Fprintf(t, "WORKLOAD\tCONTAINER\tMOUNT PATH\tSIZE LIMIT\tFAILED PATHS\n")
	for _, m := range mounts {
		dir, limit := m.Dir, m.SizeLimit+" ("+m.Basis+")"
		if dir == "" {
			dir, limit = "(none safe)", "-"
		}
		fmt.Fprintf(t, "%s %s/%s\t%s\t%s\t%s\t%s\n", m.Workload.Namespace, m.Workload.Kind, m.Workload.Name, m.Container, dir, limit, strings.Join(m.Paths, ", "))
	}
	b.flush(t)
	return b.err
}
