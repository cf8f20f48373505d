package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

// TestHintEventReachesAPIServer: the hint goes through client-go's broadcaster and the core/v1
// sink as a POST of a Warning Event on the pod.
func TestHintEventReachesAPIServer(t *testing.T) {
	posted := make(chan corev1.Event, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/namespaces/shop/events" {
			http.Error(w, r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var ev corev1.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		posted <- ev
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	sink, err := newEventSink(ctx, &rest.Config{Host: srv.URL})
	require.NoError(t, err)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	t.Cleanup(broadcaster.Shutdown)
	broadcaster.StartRecordingToSink(sink)
	recorder := broadcaster.NewRecorder(hintScheme(), corev1.EventSource{Component: "ephemeral-storage-exporter", Host: "node-a"})
	detect.NewHinter(recorder, time.Hour, nil).ReadOnly(detect.ReadOnlyHint{Namespace: "shop", Pod: "web-1", UID: "uid-1",
		Container: "app", Path: "/tmp/x"})

	select {
	case ev := <-posted:
		assert.Equal(t, "ReadOnlyWriteFailed", ev.Reason)
		assert.Equal(t, corev1.EventTypeWarning, ev.Type)
		assert.Equal(t, corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "web-1", UID: "uid-1"}, ev.InvolvedObject)
		assert.Equal(t, corev1.EventSource{Component: "ephemeral-storage-exporter", Host: "node-a"}, ev.Source)
		assert.Equal(t, "/tmp", ev.Annotations[detect.HintAnnotationMountDir])
	case <-time.After(10 * time.Second):
		t.Fatal("no Event posted within 10s")
	}
}
