// Package events detects what happened to the node's pods that storage metrics cannot show after
// the fact: evictions by the kubelet, with their cause, and writes that failed on a read-only
// filesystem. It reads the node-scoped pod watch, narrowly selected Events and, opt-in, the
// node's container logs, and counts each occurrence once.
package detect

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Cause is why the kubelet evicted a pod; the set is closed so the metric label stays bounded.
type Cause string

const (
	CauseEmptyDir       Cause = "empty_dir"
	CauseContainerLimit Cause = "container_limit"
	CausePodLimit       Cause = "pod_limit"
	CauseNodePressure   Cause = "node_pressure"
	CauseAdmission      Cause = "admission"
	CauseUnknown        Cause = "unknown"
)

// Eviction is what an eviction message says. Only Cause, Volume, Container and Resource become
// labels; the rest is for the log line.
type Eviction struct {
	Cause     Cause
	Volume    string // emptyDir whose sizeLimit was exceeded
	Container string // container over its limit, or the largest consumer under node pressure
	Resource  string // starved resource under node pressure: ephemeral-storage, inodes, memory...
	Limit     string // limit quoted by the message
	Threshold string // node pressure: threshold quantity
	Available string // node pressure: available quantity
	Usage     string // node pressure: the container's usage
	Condition string // admission: the node conditions, e.g. [DiskPressure]
}

// Event annotations the kubelet's eviction manager sets on node-pressure eviction events.
const (
	AnnotationOffendingContainers = "offending_containers"
	AnnotationStarvedResource     = "starved_resource"
	// AnnotationOffendingContainersUsage lists their usages, in the same order.
	AnnotationOffendingContainersUsage = "offending_containers_usage"
)

// maxOffenders bounds the sentences read from one message.
const maxOffenders = 64

// largestOffender picks the container with the largest usage; a usage that does not parse as a
// quantity never wins over one that does, and ties keep the first.
func largestOffender(names, usages []string) (name, usage string) {
	var best resource.Quantity
	found := false
	for i, n := range names {
		if n == "" || i >= maxOffenders {
			continue
		}
		u := ""
		if i < len(usages) {
			u = usages[i]
		}
		q, err := resource.ParseQuantity(u)
		switch {
		case name == "":
			name, usage, best, found = n, u, q, err == nil
		case err == nil && (!found || q.Cmp(best) > 0):
			name, usage, best, found = n, u, q, true
		}
	}
	return name, usage
}

// The kubelet's message formats (pkg/kubelet/eviction/helpers.go and eviction_manager.go,
// unchanged from 1.27 to current). Each sentence ends with ". ", trailing space included; the
// patterns accept it missing so that a trimmed message still classifies.
var (
	// emptyDirMessageFmt = "Usage of EmptyDir volume %q exceeds the limit %q. "
	emptyDirMessage = regexp.MustCompile(`^Usage of EmptyDir volume "((?:[^"\\]|\\.)*)" exceeds the limit "((?:[^"\\]|\\.)*)"\.`)
	// containerEphemeralStorageMessageFmt = "Container %s exceeded its local ephemeral storage limit %q. "
	containerMessage = regexp.MustCompile(`^Container (\S+) exceeded its local ephemeral storage limit "((?:[^"\\]|\\.)*)"\.`)
	// podEphemeralStorageMessageFmt = "Pod ephemeral local storage usage exceeds the total limit of containers %s. "
	podMessage = regexp.MustCompile(`^Pod ephemeral local storage usage exceeds the total limit of containers (\S+?)\.(?:\s|$)`)
	// nodeLowMessageFmt = "The node was low on resource: %v. "
	nodeLowMessage = regexp.MustCompile(`^The node was low on resource: (\S+?)\.(?:\s|$)`)
	// thresholdMetMessageFmt = "Threshold quantity: %v, available: %v. "
	thresholdMessage = regexp.MustCompile(`Threshold quantity: (\S+?), available: (\S+?)\.(?:\s|$)`)
	// containerMessageFmt = "Container %s was using %s, request is %s, has larger consumption of %v. "
	offenderMessage = regexp.MustCompile(`Container (\S+) was using (\S+?), request is (\S+?), has larger consumption of (\S+?)\.(?:\s|$)`)
	// nodeConditionMessageFmt = "The node had condition: %v. " (admission rejection). The Event
	// carries it as is; the pod status has it behind "Pod was rejected: " (kubelet.go rejectPod,
	// k8s.io/kubernetes v1.37.2), so both forms classify the same, whichever arrives first.
	admissionMessage = regexp.MustCompile(`^(?:Pod was rejected: )?The node had condition: (.+?)\.(?:\s|$)`)
)

// ClassifyEviction reads the kubelet's eviction message (pod status or Event) and, for Events, the
// annotations. Anything it does not recognise is CauseUnknown: it never fails.
func ClassifyEviction(message string, annotations map[string]string) Eviction {
	message = strings.TrimLeft(message, " ")
	if m := emptyDirMessage.FindStringSubmatch(message); m != nil {
		return Eviction{Cause: CauseEmptyDir, Volume: unquote(m[1]), Limit: unquote(m[2])}
	}
	if m := containerMessage.FindStringSubmatch(message); m != nil {
		return Eviction{Cause: CauseContainerLimit, Container: m[1], Limit: unquote(m[2])}
	}
	if m := podMessage.FindStringSubmatch(message); m != nil {
		return Eviction{Cause: CausePodLimit, Limit: m[1]}
	}
	if m := nodeLowMessage.FindStringSubmatch(message); m != nil {
		e := Eviction{Cause: CauseNodePressure, Resource: m[1]}
		if t := thresholdMessage.FindStringSubmatch(message); t != nil {
			e.Threshold, e.Available = t[1], t[2]
		}
		// evictionMessage lists every container over its request in spec order: the offender is
		// the largest consumer, not the first sentence.
		var names, usages []string
		for _, o := range offenderMessage.FindAllStringSubmatch(message, maxOffenders) {
			names, usages = append(names, o[1]), append(usages, o[2])
		}
		if len(names) == 0 {
			names = strings.Split(annotations[AnnotationOffendingContainers], ",")
			usages = strings.Split(annotations[AnnotationOffendingContainersUsage], ",")
		}
		e.Container, e.Usage = largestOffender(names, usages)
		if r := annotations[AnnotationStarvedResource]; r != "" {
			e.Resource = r
		}
		return e
	}
	if m := admissionMessage.FindStringSubmatch(message); m != nil {
		return Eviction{Cause: CauseAdmission, Condition: m[1]}
	}
	return Eviction{Cause: CauseUnknown}
}

// unquote undoes %q for the names and quantities the kubelet quotes (no escapes in practice).
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
