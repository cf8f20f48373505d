package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Exit codes of the plugin.
const (
	ExitOK = 0
	// ExitError: nothing could be shown (API error, every node failed, pod not found).
	ExitError = 1
	// ExitUsage: bad flags or arguments.
	ExitUsage = 2
	// ExitPartial: the table was printed, but some nodes could not be read.
	ExitPartial = 3
)

// UsageError is a mistake in the command line.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode maps a run's error to the plugin's exit code.
func ExitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.Is(err, ErrPartial):
		return ExitPartial
	}
	return ExitError
}

// ErrPartial reports that some nodes failed; the rows of the others were printed.
var ErrPartial = errors.New("partial results")

// TopOptions are the flags of top.
type TopOptions struct {
	Scope     Scope
	Selection Selection
	SortBy    string
	Output    string
	// Watch takes a second sample Interval after the first and adds growth and time to limit.
	Watch    bool
	Interval time.Duration
}

// Validate checks the flags before any request is sent.
func (o *TopOptions) Validate() error {
	if err := ValidOutput(o.Output); err != nil {
		return &UsageError{err}
	}
	if err := SortRows(nil, o.SortBy); err != nil {
		return &UsageError{err}
	}
	if o.Watch && o.Interval <= 0 {
		return &UsageError{fmt.Errorf("--interval must be positive, got %s", o.Interval)}
	}
	return nil
}

// RunTop reads the snapshots (twice with Watch) and prints the table. It returns ErrPartial,
// wrapped, when some nodes failed and others were shown.
func RunTop(ctx context.Context, src Source, o TopOptions, out, errOut io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	snaps, failed, err := src.Snapshots(ctx, o.Scope)
	if err != nil {
		return err
	}
	var previous []*model.Snapshot
	if o.Watch {
		fmt.Fprintf(errOut, "Sampling again in %s for growth rates...\n", o.Interval)
		timer := time.NewTimer(o.Interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		previous = snaps
		if snaps, failed, err = src.Snapshots(ctx, o.Scope); err != nil {
			return err
		}
	}
	rep := &TopReport{Rows: TopRows(snaps, previous, o.Selection), FailedNodes: failed, Watched: o.Watch}
	if err := SortRows(rep.Rows, o.SortBy); err != nil {
		return &UsageError{err}
	}
	if len(snaps) == 0 && len(failed) > 0 {
		writeFailed(errOut, failed)
		return fmt.Errorf("no node could be read (%d failed)", len(failed))
	}
	if err := WriteTop(out, errOut, rep, o.Output); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %d of %d nodes failed", ErrPartial, len(failed), len(failed)+len(snaps))
	}
	return nil
}

// RunDu prints the breakdown of one pod.
func RunDu(ctx context.Context, src Source, namespace, pod, output string, out io.Writer) error {
	if err := ValidOutput(output); err != nil {
		return &UsageError{err}
	}
	snap, entry, err := src.Pod(ctx, namespace, pod)
	if err != nil {
		return err
	}
	if entry == nil {
		return fmt.Errorf("the kubelet on %s reports no stats for pod %s/%s", snap.NodeName, namespace, pod)
	}
	return WriteBreakdown(out, NewBreakdown(snap, entry), output)
}
