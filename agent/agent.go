// Package agent runs the fetch cycle: it reads the kubelet summary at most once per
// --kubelet.min-interval however many scrapers ask, joins it with the node's pods into a
// snapshot, and keeps the last good snapshot and the self-metrics that say how fresh it is.
//
// Started with Start, the cycle runs in the background, driven by the interval: scrapes are
// served from memory and never wait for the kubelet. Without Start (replay, tests), Refresh
// fetches in the caller when the interval has passed.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// SummaryProvider is where summaries come from: the kubelet client, or a replayed dump.
type SummaryProvider interface {
	Summary(ctx context.Context) (*statsv1alpha1.Summary, error)
}

// SummaryReleaser is a SummaryProvider whose summaries' memory can be reused: the agent hands
// each summary back once the snapshot is built from it, and keeps no reference to it.
type SummaryReleaser interface {
	Release(*statsv1alpha1.Summary)
}

// PodSource is the agent's view of the API server for its node.
type PodSource interface {
	Pods() []*corev1.Pod
	Node() *corev1.Node // nil when unknown
}

// Options tune the cycle.
type Options struct {
	NodeName     string
	MinInterval  time.Duration
	Timeout      time.Duration
	MaxStaleness time.Duration
	Model        model.Options
	// Now is the clock; a replay sets it to the time of its dump.
	Now func() time.Time
	// OnSnapshot, if set, runs in the background loop after each new snapshot, e.g. to render its
	// exposition there rather than in the first scrape, and not at the same time as a decode.
	OnSnapshot func()
}

// Validate checks the options, with errors a user can act on.
func (o *Options) Validate() error {
	var errs []error
	if o.MinInterval < 0 {
		errs = append(errs, errors.New("--kubelet.min-interval must not be negative"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("--kubelet.timeout must be positive"))
	}
	if o.MaxStaleness <= 0 {
		errs = append(errs, errors.New("--kubelet.max-staleness must be positive"))
	} else if o.MaxStaleness < o.MinInterval {
		errs = append(errs, fmt.Errorf("--kubelet.max-staleness (%s) must not be below --kubelet.min-interval (%s)", o.MaxStaleness, o.MinInterval))
	}
	return errors.Join(errs...)
}

// Agent owns the fetch cycle and the latest snapshot.
type Agent struct {
	opts      Options
	summaries SummaryProvider
	pods      PodSource
	logger    *slog.Logger
	metrics   *selfMetrics
	group     singleflight.Group

	mu          sync.RWMutex
	current     *model.Snapshot // last good snapshot
	lastAttempt time.Time
	lastErrKind kubelet.ErrorKind // of the failure being reported, "" while healthy

	// Background mode (Start): scrapes only record their time and wake an idle loop.
	background atomic.Bool
	lastScrape atomic.Int64 // unix nanoseconds
	idle       atomic.Bool
	wake       chan struct{}
	jitter     func() float64 // in [0, 1)
}

// New returns an agent; its self-metrics are registered on reg.
func New(opts Options, summaries SummaryProvider, pods PodSource, logger *slog.Logger, reg prometheus.Registerer) *Agent {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Model.Specs == nil {
		opts.Model.Specs = accounting.NewSpecMemo() // fetches are serialized: one Build at a time
	}
	a := &Agent{opts: opts, summaries: summaries, pods: pods, logger: logger, wake: make(chan struct{}, 1), jitter: rand.Float64}
	a.metrics = newSelfMetrics(opts.NodeName, a.dataAge)
	reg.MustRegister(a.metrics)
	return a
}

// Snapshot returns the last good snapshot, or nil once it is older than MaxStaleness: stale
// numbers are dropped rather than shown as current. It never fetches; Refresh does.
func (a *Agent) Snapshot() *model.Snapshot {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.current == nil || a.opts.Now().Sub(a.current.Time) > a.opts.MaxStaleness {
		return nil
	}
	return a.current
}

// Ready reports whether one summary has been read.
func (a *Agent) Ready() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.current != nil
}

// Refresh is called by every scrape. In background mode it only notes the scrape (and wakes an
// idle loop) and returns at once. Otherwise it fetches a summary if the last attempt is at least
// MinInterval old; concurrent callers share one in-flight fetch, which runs under its own timeout,
// detached from any one caller, so a scraper that gives up does not cancel it for the others.
func (a *Agent) Refresh(ctx context.Context) {
	if a.background.Load() {
		a.lastScrape.Store(a.opts.Now().UnixNano())
		if a.idle.Load() {
			select {
			case a.wake <- struct{}{}:
			default:
			}
		}
		return
	}
	if !a.due() {
		return
	}
	ch := a.group.DoChan("summary", func() (any, error) {
		if !a.due() { // another caller's fetch finished while this one was queued
			return nil, nil
		}
		a.fetch()
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// Start switches the agent to background mode and runs the cycle until ctx ends: the first
// fetch once ready returns (e.g. the pod cache synced), then one every MinInterval, each wait
// jittered by ±10% so that the nodes of a cluster drift apart instead of hitting their kubelets in
// lockstep. Fetches stop once nobody has scraped for MaxStaleness (the data would be dropped by
// then anyway) and resume on the next scrape, which is served what memory holds.
func (a *Agent) Start(ctx context.Context, ready func(context.Context)) {
	a.lastScrape.Store(a.opts.Now().UnixNano()) // starting counts as a scrape: become ready
	a.background.Store(true)
	go func() {
		ready(ctx)
		a.run(ctx)
	}()
}

func (a *Agent) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if a.unscraped() {
			a.idle.Store(true)
			if a.unscraped() { // a scrape between the check and the flag would not have woken us
				select {
				case <-ctx.Done():
					return
				case <-a.wake:
				}
			}
			a.idle.Store(false)
			select { // drop a wake-up sent after the second check
			case <-a.wake:
			default:
			}
		}
		if a.fetch() && a.opts.OnSnapshot != nil {
			a.opts.OnSnapshot()
		}
		timer.Reset(a.nextWait())
	}
}

// unscraped reports whether nobody has scraped for MaxStaleness.
func (a *Agent) unscraped() bool {
	return a.opts.Now().Sub(time.Unix(0, a.lastScrape.Load())) > a.opts.MaxStaleness
}

// minBackgroundInterval bounds a zero --kubelet.min-interval, which in background mode would
// fetch back to back.
const minBackgroundInterval = 100 * time.Millisecond

// nextWait is MinInterval ±10%: on average one request per interval.
func (a *Agent) nextWait() time.Duration {
	return time.Duration(float64(max(a.opts.MinInterval, minBackgroundInterval)) * (0.9 + 0.2*a.jitter()))
}

func (a *Agent) due() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.lastAttempt.IsZero() || a.opts.Now().Sub(a.lastAttempt) >= a.opts.MinInterval
}

// fetch reads a summary and, when it succeeds, replaces the snapshot and returns true.
func (a *Agent) fetch() bool {
	start := a.opts.Now()
	a.mu.Lock()
	a.lastAttempt = start
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
	defer cancel()
	a.metrics.requests.Inc()
	summary, err := a.summaries.Summary(ctx)
	a.metrics.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		a.fail(err)
		return false
	}
	if summary.Node.NodeName != a.opts.NodeName {
		// A summary of another node (a misrouted proxy, a wrong --kubelet.url) would be exported
		// as this node's: refuse it like an undecodable one.
		a.fail(&kubelet.Error{Kind: kubelet.ErrorDecode, Err: fmt.Errorf("the kubelet summary is of node %q, not %q", summary.Node.NodeName, a.opts.NodeName)})
		return false
	}
	snap := model.Build(model.Inputs{Summary: summary, Pods: a.pods.Pods(), Node: a.pods.Node(), Now: start}, a.opts.Model)
	if r, ok := a.summaries.(SummaryReleaser); ok {
		r.Release(summary) // the snapshot holds copies of its values, no pointers into it
	}
	a.mu.Lock()
	a.current = snap
	recovered := a.lastErrKind != ""
	a.lastErrKind = ""
	a.mu.Unlock()
	a.metrics.succeeded(start, snap.UnmatchedPods)
	if recovered {
		a.logger.Info("kubelet summary readable again", "node", a.opts.NodeName)
	}
	return true
}

// fail records a failed fetch. It logs when the kind of failure changes, not on every attempt, so
// a kubelet that stays down does not flood the log; the counters tell how often.
func (a *Agent) fail(err error) {
	kind := kubelet.KindOf(err)
	if kind == "" {
		kind = kubelet.ErrorConnection
	}
	a.metrics.failed(kind)
	a.mu.Lock()
	changed := a.lastErrKind != kind
	a.lastErrKind = kind
	a.mu.Unlock()
	if changed {
		a.logger.Error("reading the kubelet summary failed; serving the last good data until it is older than --kubelet.max-staleness",
			"node", a.opts.NodeName, "kind", string(kind), "err", err, "max_staleness", a.opts.MaxStaleness)
	}
}

// dataAge is the age of the last good snapshot, or NaN before the first.
func (a *Agent) dataAge() (float64, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.current == nil {
		return 0, false
	}
	return a.opts.Now().Sub(a.current.Time).Seconds(), true
}
