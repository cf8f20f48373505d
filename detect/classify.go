// Package events detects what happened to the node's pods that storage metrics cannot show after
// the fact: evictions by the kubelet, with their cause, and writes that failed on a read-only
// filesystem. It reads the node-scoped pod watch, narrowly selected Events and, opt-in, the
// node's container logs, and counts each occurrence once.
package detect

import (
	"regexp"
	"strings"
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
)

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
	// nodeConditionMessageFmt = "The node had condition: %v. " (admission rejection)
	admissionMessage = regexp.MustCompile(`^The node had condition: (.+?)\.(?:\s|$)`)
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
		if o := offenderMessage.FindStringSubmatch(message); o != nil {
			e.Container, e.Usage = o[1], o[2]
		}
		if r := annotations[AnnotationStarvedResource]; r != "" {
			e.Resource = r
		}
		if e.Container == "" {
			e.Container, _, _ = strings.Cut(annotations[AnnotationOffendingContainers], ",")
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
