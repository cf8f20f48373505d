package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

// eventSink writes the hint Events for client-go's broadcaster over a core/v1-only REST client:
// the generated typed client would pull every API group into the binary (see kube.Client).
type eventSink struct {
	ctx  context.Context
	rest rest.Interface
}

var _ record.EventSink = (*eventSink)(nil)

func newEventSink(ctx context.Context, cfg *rest.Config) (*eventSink, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = kube.Codecs.WithoutConversion()
	c.ContentType = "application/json"
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("events client: %w", err)
	}
	return &eventSink{ctx: ctx, rest: rc}, nil
}

func (s *eventSink) Create(ev *corev1.Event) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := s.rest.Post().Namespace(ev.Namespace).Resource("events").Body(ev).Do(s.ctx).Into(out)
	return out, err
}

func (s *eventSink) Update(ev *corev1.Event) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := s.rest.Put().Namespace(ev.Namespace).Resource("events").Name(ev.Name).Body(ev).Do(s.ctx).Into(out)
	return out, err
}

func (s *eventSink) Patch(ev *corev1.Event, data []byte) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := s.rest.Patch(types.StrategicMergePatchType).Namespace(ev.Namespace).Resource("events").Name(ev.Name).
		Body(data).Do(s.ctx).Into(out)
	return out, err
}

// hintScheme knows core/v1 only: all the recorder needs to reference a pod.
func hintScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, corev1.SchemeGroupVersion)
	if err := corev1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
