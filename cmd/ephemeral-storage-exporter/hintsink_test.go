package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

// TestHintEventReachesAPIServer: the hint goes through the queue and the core/v1 REST client as a
// POST of a Warning Event on the pod.
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

	poster, err := newEventPoster(&rest.Config{Host: srv.URL}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	go poster.Run(ctx)
	source := corev1.EventSource{Component: "ephemeral-storage-exporter", Host: "node-a"}
	detect.NewHinter(poster.Post, source, time.Hour, nil).ReadOnly(detect.ReadOnlyHint{Namespace: "shop", Pod: "web-1", UID: "uid-1",
		Container: "app", Path: "/tmp/x"})

	select {
	case ev := <-posted:
		assert.Equal(t, "ReadOnlyWriteFailed", ev.Reason)
		assert.Equal(t, corev1.EventTypeWarning, ev.Type)
		assert.Equal(t, corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "web-1", UID: "uid-1"}, ev.InvolvedObject)
		assert.Equal(t, source, ev.Source)
		assert.Equal(t, "/tmp", ev.Annotations[detect.HintAnnotationMountDir])
	case <-time.After(10 * time.Second):
		t.Fatal("no Event posted within 10s")
	}
}

// TestHintCreateTries: an answer from the API server, even a refusal, ends the tries; an
// unreachable server is tried maxHintTries times.
func TestHintCreateTries(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		reachable bool
		want      int32
	}{
		{"created", http.StatusCreated, true, 1},
		{"already exists", http.StatusConflict, true, 1},
		{"forbidden", http.StatusForbidden, true, 1},
		{"unreachable", 0, false, maxHintTries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tries atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tries.Add(1)
				if !tt.reachable {
					panic(http.ErrAbortHandler) // the connection drops without an answer
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":`+strconv.Itoa(tt.status)+`}`)
			}))
			t.Cleanup(srv.Close)
			poster, err := newEventPoster(&rest.Config{Host: srv.URL}, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			poster.retryAfter = time.Millisecond
			ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1.1"}}
			poster.create(context.Background(), ev)
			assert.Equal(t, tt.want, tries.Load())
		})
	}
}
