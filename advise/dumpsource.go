package advise

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// DumpSource observes one recorded node dump (dump.Dump: a saved summary and pod list): every "peak" is the
// usage at the moment the summary was taken, so its advice is labelled "snapshot, not a window".
type DumpSource struct {
	Dump    *dump.Dump
	Options model.Options
	// Name describes the dump in the report, e.g. "sample node" or a file name.
	Name string
	// Namespace keeps only this namespace when set.
	Namespace string
}

// Observe builds the snapshot with model.Build, exactly as the agent does.
func (s *DumpSource) Observe(ctx context.Context) (*Input, error) {
	summary, err := s.Dump.Summary(ctx)
	if err != nil {
		return nil, err
	}
	snap := model.Build(model.Inputs{Summary: summary, Pods: s.Dump.Pods, Node: s.Dump.Node, Now: s.Dump.Time()}, s.Options)
	in := &Input{
		Source:   fmt.Sprintf("snapshot of node %s (%s)", snap.NodeName, s.Name),
		Snapshot: true, End: s.Dump.Time(),
		EvictionsKnown: true,
		Notes: []string{
			"evictions: pods the dump still lists as Evicted; a snapshot sees no counters, so read-only write failures are unknown",
		},
	}
	specs := map[[2]string]*corev1.Pod{}
	for _, pod := range s.Dump.Pods {
		specs[[2]string{pod.Namespace, pod.Name}] = pod
	}
	skipped := 0
	for i := range snap.Pods {
		p := &snap.Pods[i]
		if s.Namespace != "" && p.Namespace != s.Namespace {
			continue
		}
		if p.Workload == "" {
			skipped++
			continue
		}
		w := Workload{Namespace: p.Namespace, Kind: p.WorkloadKind, Name: p.Workload}
		for _, v := range p.Volumes {
			if v.Type != model.VolumeEmptyDir || (v.Medium != model.MediumDisk && v.Medium != model.MediumMemory) {
				continue
			}
			o := VolumeObservation{Workload: w, Volume: v.Name, Medium: v.Medium, Peak: v.Used, SizeLimit: v.SizeLimit}
			if pod := specs[[2]string{p.Namespace, p.Name}]; pod != nil {
				o.SpecKnown, o.SpecSizeLimit = true, specSizeLimit(pod, v.Name)
			}
			in.Volumes = append(in.Volumes, o)
		}
		for _, c := range p.Containers {
			o := ContainerObservation{Workload: w, Container: c.Name, Type: c.Type,
				Peak: c.Usage, RootfsPeak: c.Rootfs, Request: c.Request, Limit: c.Limit}
			if c.Type != "" {
				o.ReadOnlyRoot = model.Flag(c.ReadOnlyRootFilesystem)
			}
			in.Containers = append(in.Containers, o)
		}
	}
	if skipped > 0 {
		in.Notes = append(in.Notes, fmt.Sprintf("%d pod(s) in the summary have no pod spec (no workload): skipped", skipped))
	}
	for _, pod := range s.Dump.Pods {
		if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != "Evicted" {
			continue
		}
		if s.Namespace != "" && pod.Namespace != s.Namespace {
			continue
		}
		kind, name := kube.Workload(pod)
		in.Evictions = append(in.Evictions, EvictionObservation{
			Workload: Workload{Namespace: pod.Namespace, Kind: kind, Name: name},
			Cause:    string(detect.ClassifyEviction(pod.Status.Message, nil).Cause), Count: 1,
		})
	}
	return in, nil
}

// specSizeLimit is the sizeLimit the pod spec sets on an emptyDir volume (OK false: none).
func specSizeLimit(pod *corev1.Pod, volume string) model.Opt {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Sign() > 0 {
			return model.Some(float64(v.EmptyDir.SizeLimit.Value()))
		}
	}
	return model.Opt{}
}
