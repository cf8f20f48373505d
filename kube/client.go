package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Client lists and watches the few core/v1 resources the agent reads.
//
// It is a REST client over a scheme holding core/v1 only. The generated clientset (even its
// core/v1 part) registers every API group of Kubernetes, which makes the binary 1.6x larger, and
// the kernel keeps most of a Go binary resident: on an agent that runs on every node, that is
// most of its memory.
type Client struct {
	rest  rest.Interface
	codec runtime.ParameterCodec
}

var scheme = runtime.NewScheme()

// Codecs decode core/v1 objects, e.g. saved pod lists.
var Codecs = serializer.NewCodecFactory(scheme)

func init() {
	metav1.AddToGroupVersion(scheme, corev1.SchemeGroupVersion)
	if err := corev1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// NewClient returns a client for cfg; it prefers protobuf, which the API server speaks for core
// types and which is cheaper to decode than JSON.
func NewClient(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = Codecs.WithoutConversion()
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c.ContentType = "application/json"
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("API server client: %w", err)
	}
	return &Client{rest: rc, codec: runtime.NewParameterCodec(scheme)}, nil
}

// ListFunc and WatchFunc return the list and watch of a resource (plural, e.g. "pods") across
// namespaces, for an informer.
func (c *Client) ListFunc(resource string) func(context.Context, metav1.ListOptions) (runtime.Object, error) {
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.rest.Get().Resource(resource).VersionedParams(&o, c.codec).Do(ctx).Get()
	}
}

// WatchFunc: see ListFunc.
func (c *Client) WatchFunc(resource string) func(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		o.Watch = true
		return c.rest.Get().Resource(resource).VersionedParams(&o, c.codec).Watch(ctx)
	}
}
