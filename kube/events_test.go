package kube

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripEvent(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web.1", UID: "ev-1", ResourceVersion: "7",
			Annotations: map[string]string{"starved_resource": "ephemeral-storage", "offending_containers": "app", "junk": big},
			Labels:      map[string]string{"junk": "x"}},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web", UID: "uid-1", FieldPath: "spec.containers{app}"},
		Reason:         "Evicted", Message: "The node was low on resource: ephemeral-storage. " + big, Count: 2,
		Series: &corev1.EventSeries{Count: 3}, Source: corev1.EventSource{Host: "node-a"}, Action: big,
	}
	kept, err := StripEvent(func(*corev1.Event) bool { return true })(ev)
	require.NoError(t, err)
	k := kept.(*corev1.Event)
	assert.Equal(t, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web.1", UID: "ev-1", ResourceVersion: "7",
			Annotations: map[string]string{"starved_resource": "ephemeral-storage", "offending_containers": "app"}},
		InvolvedObject: ev.InvolvedObject, Reason: "Evicted", Message: ev.Message[:maxEventMessageBytes], Count: 2,
		Series: &corev1.EventSeries{Count: 3},
	}, k)

	dropped, err := StripEvent(func(*corev1.Event) bool { return false })(ev)
	require.NoError(t, err)
	assert.Equal(t, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web.1", ResourceVersion: "7"}}, dropped)

	tomb := otherObject{}
	same, err := StripEvent(nil)(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, same, "anything but an Event passes unchanged")
}

type otherObject struct{}
