package detect

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Messages byte for byte as the kubelet formats them (1.27 to current), trailing spaces included.
func TestClassifyEviction(t *testing.T) {
	tests := []struct {
		name        string
		message     string
		annotations map[string]string
		want        Eviction
	}{
		{name: "emptyDir over sizeLimit",
			message: fmt.Sprintf("Usage of EmptyDir volume %q exceeds the limit %q. ", "data", "5Mi"),
			want:    Eviction{Cause: CauseEmptyDir, Volume: "data", Limit: "5Mi"}},
		{name: "emptyDir message as recorded on a real kubelet",
			message: `Usage of EmptyDir volume "data" exceeds the limit "5Mi". `,
			want:    Eviction{Cause: CauseEmptyDir, Volume: "data", Limit: "5Mi"}},
		{name: "emptyDir with the trailing space trimmed",
			message: `Usage of EmptyDir volume "cache-dir" exceeds the limit "1Gi".`,
			want:    Eviction{Cause: CauseEmptyDir, Volume: "cache-dir", Limit: "1Gi"}},
		{name: "container limit",
			message: fmt.Sprintf("Container %s exceeded its local ephemeral storage limit %q. ", "app", "100Mi"),
			want:    Eviction{Cause: CauseContainerLimit, Container: "app", Limit: "100Mi"}},
		{name: "pod limit (quantity unquoted)",
			message: fmt.Sprintf("Pod ephemeral local storage usage exceeds the total limit of containers %s. ", "1536Mi"),
			want:    Eviction{Cause: CausePodLimit, Limit: "1536Mi"}},
		{name: "pod limit in decimal units",
			message: "Pod ephemeral local storage usage exceeds the total limit of containers 2G. ",
			want:    Eviction{Cause: CausePodLimit, Limit: "2G"}},
		{name: "node pressure with threshold and offender",
			message: "The node was low on resource: ephemeral-storage. Threshold quantity: 10737418240, available: 9437184Ki. " +
				"Container app was using 5Gi, request is 0, has larger consumption of ephemeral-storage. ",
			annotations: map[string]string{AnnotationOffendingContainers: "app", "offending_containers_usage": "5Gi", AnnotationStarvedResource: "ephemeral-storage"},
			want: Eviction{Cause: CauseNodePressure, Resource: "ephemeral-storage", Threshold: "10737418240", Available: "9437184Ki",
				Container: "app", Usage: "5Gi"}},
		{name: "node pressure on inodes, two offenders",
			message: "The node was low on resource: inodes. Threshold quantity: 327680, available: 1000. " +
				"Container a was using 200k, request is 0, has larger consumption of inodes. Container b was using 10k, request is 0, has larger consumption of inodes. ",
			want: Eviction{Cause: CauseNodePressure, Resource: "inodes", Threshold: "327680", Available: "1000", Container: "a", Usage: "200k"}},
		// evictionMessage (helpers.go, k8s.io/kubernetes v1.37.2) writes one sentence per container
		// over its request, in spec order: the label names the largest, not the first.
		{name: "node pressure: the largest offender, not the first sentence",
			message: "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9Gi. " +
				"Container small was using 12Mi, request is 0, has larger consumption of ephemeral-storage. " +
				"Container big was using 3Gi, request is 1Gi, has larger consumption of ephemeral-storage. " +
				"Container mid was using 900Mi, request is 0, has larger consumption of ephemeral-storage. ",
			want: Eviction{Cause: CauseNodePressure, Resource: "ephemeral-storage", Threshold: "10Gi", Available: "9Gi", Container: "big", Usage: "3Gi"}},
		{name: "node pressure: annotations, largest offender by offending_containers_usage",
			message:     "The node was low on resource: ephemeral-storage. ",
			annotations: map[string]string{AnnotationOffendingContainers: "a,b", AnnotationOffendingContainersUsage: "1Mi,2Gi"},
			want:        Eviction{Cause: CauseNodePressure, Resource: "ephemeral-storage", Container: "b", Usage: "2Gi"}},
		// 1.34+ may add a pod-level sentence (podMessageFmt, memory with pod-level resources) before
		// the container sentences; it names a pod, not a container, and is not taken for one.
		{name: "node pressure on memory with the pod-level sentence",
			message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 90Mi. " +
				"Pod web-1 was using 2Gi, request is 1Gi, has larger consumption of memory. " +
				"Container app was using 1Gi, request is 0, has larger consumption of memory. ",
			want: Eviction{Cause: CauseNodePressure, Resource: "memory", Threshold: "100Mi", Available: "90Mi", Container: "app", Usage: "1Gi"}},
		{name: "node pressure without per-container sentences uses the annotations",
			message:     "The node was low on resource: ephemeral-storage. ",
			annotations: map[string]string{AnnotationOffendingContainers: "writer,sidecar", AnnotationStarvedResource: "ephemeral-storage"},
			want:        Eviction{Cause: CauseNodePressure, Resource: "ephemeral-storage", Container: "writer"}},
		{name: "memory pressure is counted, with its resource",
			message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92200Ki. ",
			want:    Eviction{Cause: CauseNodePressure, Resource: "memory", Threshold: "100Mi", Available: "92200Ki"}},
		{name: "admission under DiskPressure",
			message: fmt.Sprintf("The node had condition: %v. ", "[DiskPressure]"),
			want:    Eviction{Cause: CauseAdmission, Condition: "[DiskPressure]"}},
		// The pod status of a rejected pod (kubelet.go rejectPod, k8s.io/kubernetes v1.37.2):
		// "Pod was rejected: " + the Event's message. Both classify the same.
		{name: "admission under DiskPressure, as the pod status says it",
			message: "Pod was rejected: " + fmt.Sprintf("The node had condition: %v. ", "[DiskPressure]"),
			want:    Eviction{Cause: CauseAdmission, Condition: "[DiskPressure]"}},
		{name: "a rejection for another reason is not node pressure",
			message: "Pod was rejected: Node didn't have enough resource: ephemeral-storage", want: Eviction{Cause: CauseUnknown}},
		{name: "empty", message: "", want: Eviction{Cause: CauseUnknown}},
		{name: "foreign message", message: "Pod was evicted by the descheduler", want: Eviction{Cause: CauseUnknown}},
		{name: "API-initiated eviction", message: "Eviction API: evicting", want: Eviction{Cause: CauseUnknown}},
		{name: "truncated emptyDir message", message: `Usage of EmptyDir volume "data`, want: Eviction{Cause: CauseUnknown}},
		{name: "unterminated quote", message: `Container app exceeded its local ephemeral storage limit "100Mi`, want: Eviction{Cause: CauseUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ClassifyEviction(tt.message, tt.annotations))
		})
	}
}

func TestParseReadOnly(t *testing.T) {
	tests := []struct {
		message  string
		wantPath string
		wantOK   bool
	}{
		{`open /var/cache/nginx/x: read-only file system`, "/var/cache/nginx/x", true},
		{`2026/11/25 10:00:00 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)`, "/var/cache/nginx/client_temp", true},
		{`touch: cannot touch '/data/x': Read-only file system`, "/data/x", true},
		{`OSError: [Errno 30] Read-only file system: '/app/.cache'`, "/app/.cache", true},
		{`java.io.FileNotFoundException: /tmp/hsperfdata_app/1 (Read-only file system)`, "/tmp/hsperfdata_app/1", true},
		{`sh: can't create /tmp/lock: Read-only file system`, "/tmp/lock", true},
		{`Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/x" to rootfs at "/etc/app": mkdir /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs/etc/app: read-only file system: unknown`,
			"/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs/etc/app", true},
		{`write error: EROFS`, "", true},
		{`READ-ONLY FILE SYSTEM`, "", true},
		{`Readiness probe failed: connection refused`, "", false},
		{`mounted read-only`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.message, func(t *testing.T) {
			path, ok := ParseReadOnly(tt.message)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantPath, path)
		})
	}
}

// FuzzClassifyEviction checks properties: the classifier is deterministic and total (one cause
// of the closed set for any input), and each message form the kubelet writes
// (pkg/kubelet/eviction/helpers.go: emptyDirMessageFmt, containerMessageFmt,
// podEphemeralStorageMessageFmt, nodeLowMessageFmt; admission: lifecycle's "The node had
// condition") classifies to its documented cause with the names it quotes, whatever the names.
func FuzzClassifyEviction(f *testing.F) {
	for _, s := range []string{
		`Usage of EmptyDir volume "data" exceeds the limit "5Mi". `,
		"Container app exceeded its local ephemeral storage limit \"100Mi\". ",
		"Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ",
		"The node was low on resource: ephemeral-storage. Threshold quantity: 1, available: 0. Container a was using 1, request is 0, has larger consumption of ephemeral-storage. ",
		"The node had condition: [DiskPressure]. ",
		"", "Usage of EmptyDir volume", "Container  exceeded",
	} {
		f.Add(s, "a,b", "data", int64(5<<20))
	}
	causes := map[Cause]bool{CauseEmptyDir: true, CauseContainerLimit: true, CausePodLimit: true,
		CauseNodePressure: true, CauseAdmission: true, CauseUnknown: true}
	dnsLabel := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	f.Fuzz(func(t *testing.T, message, offenders, name string, limitBytes int64) {
		annotations := map[string]string{AnnotationOffendingContainers: offenders}
		e := ClassifyEviction(message, annotations)
		if !causes[e.Cause] {
			t.Fatalf("cause %q of %q is not one of the closed set", e.Cause, message)
		}
		if again := ClassifyEviction(message, annotations); again != e {
			t.Fatalf("not deterministic: %+v then %+v", e, again)
		}
		if !dnsLabel.MatchString(name) || limitBytes < 0 {
			return // the kubelet's names are DNS labels; its limits are non-negative quantities
		}
		limit := resource.NewQuantity(limitBytes, resource.BinarySI).String()
		for _, form := range []struct {
			message string
			want    Eviction
		}{
			{fmt.Sprintf("Usage of EmptyDir volume %q exceeds the limit %q. ", name, limit), Eviction{Cause: CauseEmptyDir, Volume: name, Limit: limit}},
			{fmt.Sprintf("Container %s exceeded its local ephemeral storage limit %q. ", name, limit), Eviction{Cause: CauseContainerLimit, Container: name, Limit: limit}},
			{fmt.Sprintf("Pod ephemeral local storage usage exceeds the total limit of containers %s. ", limit), Eviction{Cause: CausePodLimit, Limit: limit}},
			{fmt.Sprintf("The node was low on resource: %v. ", name), Eviction{Cause: CauseNodePressure, Resource: name}},
			{fmt.Sprintf("The node had condition: [%s]. ", name), Eviction{Cause: CauseAdmission, Condition: "[" + name + "]"}},
		} {
			if got := ClassifyEviction(form.message, nil); got != form.want {
				t.Fatalf("%q: got %+v, want %+v", form.message, got, form.want)
			}
		}
	})
}

func FuzzParseReadOnly(f *testing.F) {
	for _, s := range []string{`open /x: read-only file system`, `'/a': Read-only file system`, `"/b" failed (30: Read-only file system)`, `EROFS`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, message string) {
		path, ok := ParseReadOnly(message)
		if !ok && path != "" {
			t.Fatal("a path without a match")
		}
	})
}
