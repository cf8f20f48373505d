package detect_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

// The real kubelet's messages under DiskPressure (k8s.io/kubernetes v1.34.2, recorded by
// TestDiskPressure in test/e2e): each evicted or rejected pod's status message and its Event
// classify alike. The admission rejection is the case that differs in form: the Event says
// "The node had condition: [DiskPressure]. ", the status "Pod was rejected: " before it
// (kubelet.go rejectPod), and the agent counts whichever it sees first.
func TestClassifyRecordedDiskPressure(t *testing.T) {
	d := fixtures.LoadE2E(t, "diskpressure")
	raw, err := os.ReadFile(filepath.Join(fixtures.E2EDir(), "diskpressure-events.json"))
	require.NoError(t, err)
	var events corev1.EventList
	require.NoError(t, json.Unmarshal(raw, &events))
	eventOf := map[string]*corev1.Event{}
	for i := range events.Items {
		if ev := &events.Items[i]; ev.Reason == "Evicted" {
			eventOf[string(ev.InvolvedObject.UID)] = ev
		}
	}
	want := map[string]detect.Eviction{
		"hog": {Cause: detect.CauseNodePressure, Resource: "ephemeral-storage", Threshold: "85285788", Available: "34133Ki", Container: "main", Usage: "10Ki"},
		// Evicted second: no container over its request, so no offender sentence.
		"mixed": {Cause: detect.CauseNodePressure, Resource: "ephemeral-storage", Threshold: "85285788", Available: "80011Ki"},
		"late":  {Cause: detect.CauseAdmission, Condition: "[DiskPressure]"},
	}
	seen := map[string]bool{}
	for _, pod := range d.Pods {
		if pod.Status.Reason != "Evicted" {
			continue
		}
		seen[pod.Name] = true
		ev := eventOf[string(pod.UID)]
		require.NotNil(t, ev, "%s: no Evicted Event recorded", pod.Name)
		fromStatus := detect.ClassifyEviction(pod.Status.Message, nil)
		fromEvent := detect.ClassifyEviction(ev.Message, ev.Annotations)
		assert.Equal(t, want[pod.Name], fromStatus, "%s from its status %q", pod.Name, pod.Status.Message)
		assert.Equal(t, want[pod.Name], fromEvent, "%s from its Event %q", pod.Name, ev.Message)
	}
	assert.Equal(t, map[string]bool{"hog": true, "mixed": true, "late": true}, seen)
	// The two forms really differ in the recording: the test is not comparing a string to itself.
	for _, pod := range d.Pods {
		if pod.Name == "late" {
			assert.NotEqual(t, pod.Status.Message, eventOf[string(pod.UID)].Message)
		}
	}
}
