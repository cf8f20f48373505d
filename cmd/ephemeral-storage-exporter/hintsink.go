package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

// As client-go's broadcaster (tools/record/event.go, maxQueuedEvents, maxTriesPerEvent and
// defaultSleepDuration), bounded lower: a hint is advice, the counters already count the failure.
const (
	maxQueuedHints = 100
	maxHintTries   = 3
	hintRetryAfter = 10 * time.Second
)

// eventPoster creates the hint Events over a core/v1-only REST client (the generated typed client
// would pull every API group into the binary, see kube.Client), one at a time from a bounded
// queue: the detector's handlers never wait on the API server.
type eventPoster struct {
	rest       rest.Interface
	queue      chan *corev1.Event
	retryAfter time.Duration
	logger     *slog.Logger
}

func newEventPoster(cfg *rest.Config, logger *slog.Logger) (*eventPoster, error) {
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
	return &eventPoster{rest: rc, queue: make(chan *corev1.Event, maxQueuedHints), retryAfter: hintRetryAfter, logger: logger}, nil
}

// Post queues ev, or drops it when the queue is full.
func (p *eventPoster) Post(ev *corev1.Event) {
	select {
	case p.queue <- ev:
	default:
		p.logger.Debug("hint Event dropped: queue full", "namespace", ev.Namespace, "pod", ev.InvolvedObject.Name)
	}
}

// Run creates the queued Events until ctx ends.
func (p *eventPoster) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-p.queue:
			p.create(ctx, ev)
		}
	}
}

// create tries again only when the API server was not reached: an answer, even a refusal, is
// final (client-go tools/record/event.go, recordEvent).
func (p *eventPoster) create(ctx context.Context, ev *corev1.Event) {
	for try := 1; ; try++ {
		err := p.rest.Post().Namespace(ev.Namespace).Resource("events").Body(ev).Do(ctx).Error()
		if err == nil {
			return
		}
		var status apierrors.APIStatus
		var construction *rest.RequestConstructionError
		if errors.As(err, &status) || errors.As(err, &construction) || try >= maxHintTries {
			p.logger.Warn("hint Event not created", "namespace", ev.Namespace, "pod", ev.InvolvedObject.Name, "tries", try, "err", err)
			return
		}
		t := time.NewTimer(p.retryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
