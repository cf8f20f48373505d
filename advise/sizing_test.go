package advise

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

func TestRoundUp(t *testing.T) {
	for _, tc := range []struct {
		in, want int64
	}{
		{-1, 0},
		{0, 0},
		{1, 10 * Mi},
		{10 * Mi, 10 * Mi},
		{10*Mi + 1, 20 * Mi},
		{99 * Mi, 100 * Mi},
		{100 * Mi, 100 * Mi},
		{100*Mi + 1, 125 * Mi},
		{126 * Mi, 150 * Mi},
		{1000 * Mi, 1000 * Mi},
		{1001 * Mi, Gi}, // the next 25Mi step (1025Mi) is past 1Gi
		{Gi, Gi},
		{Gi + 1, 1280 * Mi},
		{2*Gi + Mi, 2304 * Mi},
		{10 * Gi, 10 * Gi},
		{10*Gi + 1, 11 * Gi},
		{100*Gi + 1, 101 * Gi},
	} {
		assert.Equal(t, tc.want, RoundUp(tc.in), "RoundUp(%d) = %s, want %s", tc.in, Quantity(RoundUp(tc.in)), Quantity(tc.want))
	}
}

func TestSizeLimit(t *testing.T) {
	s := DefaultSizing()
	for _, tc := range []struct {
		name     string
		headroom float64
		peak     float64
		want     string
	}{
		{"nothing used gets the floor", 1.2, 0, "10Mi"},
		{"a few KiB get the floor", 1.2, 4096, "10Mi"},
		{"floor exactly", 1.2, float64(10*Mi) / 1.2, "10Mi"},
		{"just above the floor", 1.2, float64(10 * Mi), "20Mi"},
		{"84Mi x 1.2 = 100.8Mi", 1.2, float64(84 * Mi), "125Mi"},
		{"700Mi x 1.2 = 840Mi", 1.2, float64(700 * Mi), "850Mi"},
		{"2Gi x 1.2 = 2457.6Mi", 1.2, float64(2 * Gi), "2560Mi"},
		{"headroom 1 keeps the peak, rounded", 1, float64(100 * Mi), "100Mi"},
		{"headroom 2 doubles", 2, float64(100 * Mi), "200Mi"},
		{"large", 1.2, float64(20 * Gi), "24Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Headroom = tc.headroom
			assert.Equal(t, tc.want, Quantity(s.SizeLimit(tc.peak)))
		})
	}
}

func TestRequest(t *testing.T) {
	s := DefaultSizing()
	for _, tc := range []struct {
		name           string
		emptyDirs      int64
		peak           float64
		request, limit string
	}{
		// The sizing rule: request = sum of the pod's disk emptyDir sizeLimits + 20%.
		{"emptyDirs only", 100 * Mi, 0, "125Mi", "250Mi"},
		{"1Gi of emptyDirs", Gi, 0, "1280Mi", "2560Mi"},
		// The container's own writes (logs, writable layer) are added before the 20%.
		{"emptyDirs and container", 125 * Mi, float64(12 * Mi), "175Mi", "350Mi"},
		{"container only", 0, float64(200 * Mi), "250Mi", "500Mi"},
		// Limits never go below the kubelet's log rotation floor, 10Mi x 5 by default: a
		// container that only logs reaches it.
		{"nothing gets the floors", 0, 0, "10Mi", "50Mi"},
		{"small gets the floors", 0, float64(5 * Mi), "10Mi", "50Mi"},
		{"negative peak ignored", 10 * Mi, -5, "20Mi", "50Mi"},
		{"2x request just under the log floor", 0, float64(20 * Mi), "30Mi", "60Mi"},
		{"2x request at the log floor", 0, float64(16 * Mi), "20Mi", "50Mi"},
		{"large", 2560 * Mi, float64(345 * Mi), "3584Mi", "7Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			request, limit := s.Request(tc.emptyDirs, tc.peak)
			assert.Equal(t, tc.request, Quantity(request))
			assert.Equal(t, tc.limit, Quantity(limit))
			assert.Equal(t, max(2*request, 50*Mi), limit, "limit is 2x the request, at least 10Mi x 5")
		})
	}
}

// The log floor follows the kubelet config: containerLogMaxSize x containerLogMaxFiles,
// rounded up to the ladder.
func TestRequestLogFloorFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		limit        string
		source       string
	}{
		{"KubeletConfiguration YAML", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerLogMaxSize: 50Mi\ncontainerLogMaxFiles: 3\n", "150Mi", "kubelet config f"},
		{"configz JSON", `{"kubeletconfig":{"containerLogMaxSize":"100Mi","containerLogMaxFiles":10}}`, "1000Mi", "kubelet config f"},
		{"only the size: files default to 5", "containerLogMaxSize: 1Mi\n", "20Mi", "kubelet config f (kubelet defaults for the fields it leaves out)"},
		{"decimal size rounded up", "containerLogMaxSize: 10M\ncontainerLogMaxFiles: 2\n", "20Mi", "kubelet config f"},
		{"neither: both defaults", "kind: KubeletConfiguration\n", "50Mi", "kubelet config f (kubelet defaults for the fields it leaves out)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLogRotation([]byte(tc.config), "f")
			require.NoError(t, err)
			s := DefaultSizing()
			s.LogRotation = l
			_, limit := s.Request(0, 0)
			assert.Equal(t, tc.limit, Quantity(limit))
			assert.Equal(t, tc.source, l.Source)
		})
	}
	for _, bad := range []string{"containerLogMaxFiles: 1\n", "containerLogMaxFiles: 100000\n", "containerLogMaxSize: -1Mi\n",
		"containerLogMaxSize: 0\n", "containerLogMaxSize: lots\n", "containerLogMaxSize: 2Ti\n", "[not a map", `{"kubeletconfig":{"containerLogMaxFiles":"5"}}`} {
		_, err := ParseLogRotation([]byte(bad), "f")
		assert.Error(t, err, bad)
	}
}

// Init containers and sidecars: the suggested pod values are the kubelet's
// (component-helpers resource aggregateContainerResourcesByFn): app + sidecars add up; a
// regular init container counts with the sidecars, by max.
func TestAnalyzeInitContainersAndPodTotal(t *testing.T) {
	w := Workload{Namespace: "ns", Kind: "Deployment", Name: "app"}
	for _, tc := range []struct {
		name       string
		containers []ContainerObservation
		// want: container -> request/limit; pod request/limit
		want               map[string][2]string
		podRequest, podLim string
	}{
		{
			name: "app only: the sum",
			containers: []ContainerObservation{
				{Workload: w, Container: "a", Type: "app", Peak: model.Some(float64(100 * Mi))},
				{Workload: w, Container: "b", Type: "app", Peak: model.Some(0.0)},
			},
			// emptyDir 125Mi: a = (125+100) x 1.2 = 270 -> 275Mi; b = 125 x 1.2 = 150Mi.
			want:       map[string][2]string{"a": {"275Mi", "550Mi"}, "b": {"150Mi", "300Mi"}},
			podRequest: "425Mi", podLim: "850Mi",
		},
		{
			name: "small init container: the app sum wins",
			containers: []ContainerObservation{
				{Workload: w, Container: "a", Type: "app", Peak: model.Some(float64(100 * Mi))},
				{Workload: w, Container: "setup", Type: "init", Peak: model.Some(float64(40 * Mi))},
			},
			// setup carries no emptyDirs: 40 x 1.2 = 48 -> 50Mi, limit 100Mi.
			want:       map[string][2]string{"a": {"275Mi", "550Mi"}, "setup": {"50Mi", "100Mi"}},
			podRequest: "275Mi", podLim: "550Mi",
		},
		{
			name: "large init container with a sidecar: init + sidecar wins",
			containers: []ContainerObservation{
				{Workload: w, Container: "a", Type: "app", Peak: model.Some(0.0)},
				{Workload: w, Container: "proxy", Type: "sidecar", Peak: model.Some(float64(10 * Mi))},
				{Workload: w, Container: "download", Type: "init", Peak: model.Some(float64(2 * Gi))},
			},
			// a = 150Mi/300Mi; proxy = (125+10) x 1.2 = 162 -> 175Mi/350Mi;
			// download = 2Gi x 1.2 = 2457.6Mi -> 2560Mi/5Gi. Pod: max(150+175, 2560+175) requests,
			// max(300+350, 5120+350) limits.
			want:       map[string][2]string{"a": {"150Mi", "300Mi"}, "proxy": {"175Mi", "350Mi"}, "download": {"2560Mi", "5Gi"}},
			podRequest: "2735Mi", podLim: "5470Mi",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Source: "test", Snapshot: true,
				Volumes:    []VolumeObservation{{Workload: w, Volume: "cache", Medium: "disk", Peak: model.Some(float64(100 * Mi))}},
				Containers: tc.containers}
			r := Analyze(in, DefaultSizing())
			require.Len(t, r.Workloads, 1)
			a := r.Workloads[0]
			got := map[string][2]string{}
			for _, c := range a.Containers {
				got[c.Container] = [2]string{c.SuggestedRequest, c.SuggestedLimit}
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.podRequest, Quantity(a.SuggestedPodRequestBytes))
			assert.Equal(t, tc.podLim, a.SuggestedPodLimit)
		})
	}
}

// A memory emptyDir without a sizeLimit grows to the pod's memory limit: advise bounds it at
// peak x headroom, and says when the source cannot see the spec.
func TestAnalyzeMemoryEmptyDirSizeLimit(t *testing.T) {
	w := Workload{Namespace: "ns", Kind: "Deployment", Name: "app"}
	in := &Input{Source: "test", Snapshot: true, Volumes: []VolumeObservation{
		{Workload: w, Volume: "unbounded", Medium: "memory", Peak: model.Some(float64(100 * Mi)), SizeLimit: model.Some(float64(Gi)), SpecKnown: true},
		{Workload: w, Volume: "bounded", Medium: "memory", Peak: model.Some(float64(100 * Mi)), SizeLimit: model.Some(float64(512 * Mi)), SpecKnown: true, SpecSizeLimit: model.Some(float64(512 * Mi))},
		{Workload: w, Volume: "tiny", Medium: "memory", Peak: model.Some(float64(Ki)), SizeLimit: model.Some(float64(Gi)), SpecKnown: true},
		{Workload: w, Volume: "fromprom", Medium: "memory", Peak: model.Some(float64(100 * Mi)), SizeLimit: model.Some(float64(Gi))},
	}}
	r := Analyze(in, DefaultSizing())
	require.Len(t, r.Workloads, 1)
	got := map[string]string{}
	for _, m := range r.Workloads[0].MemoryEmptyDirs {
		got[m.Volume] = m.Change + " " + m.SuggestedSizeLimit
	}
	assert.Equal(t, map[string]string{"unbounded": "set 125Mi", "bounded": "lower 125Mi", "tiny": "set 10Mi", "fromprom": "set if unset 125Mi"}, got)
	assert.Empty(t, r.Workloads[0].EmptyDirs, "memory emptyDirs are not disk emptyDirs")
	var out bytes.Buffer
	require.NoError(t, r.WritePatch(&out))
	assert.Contains(t, out.String(), "      - name: unbounded\n        emptyDir:\n          medium: Memory\n          sizeLimit: 125Mi\n")
	assert.NotContains(t, out.String(), "fromprom", "not patched without the spec")
	assert.NotContains(t, out.String(), "name: bounded", "lowering a tmpfs is left to a person")
}

func TestAnalyzeReadOnlyAndChanges(t *testing.T) {
	w := Workload{Namespace: "ns", Kind: "Deployment", Name: "app"}
	in := &Input{Source: "test", Snapshot: true,
		Volumes: []VolumeObservation{
			// Two pods of the workload: the larger peak and bound win.
			{Workload: w, Volume: "cache", Medium: "disk", Peak: model.Some(float64(50 * Mi)), SizeLimit: model.Some(float64(100 * Mi))},
			{Workload: w, Volume: "cache", Medium: "disk", Peak: model.Some(float64(90 * Mi)), SizeLimit: model.Some(float64(100 * Mi))},
			{Workload: w, Volume: "unbounded", Medium: "disk", Peak: model.Some(0.0)},
			{Workload: w, Volume: "exact", Medium: "disk", Peak: model.Some(float64(100 * Mi)), SizeLimit: model.Some(float64(125 * Mi))},
			{Workload: w, Volume: "shm", Medium: "memory", Peak: model.Some(float64(48 * Mi)), SizeLimit: model.Some(float64(64 * Mi))},
		},
		Containers: []ContainerObservation{
			{Workload: w, Container: "clean", Type: "app", ReadOnlyRoot: model.Flag(false), RootfsPeak: model.Some(float64(DefaultReadOnlyTolerance))},
			{Workload: w, Container: "writer", Type: "app", ReadOnlyRoot: model.Flag(false), RootfsPeak: model.Some(float64(DefaultReadOnlyTolerance + 1))},
			{Workload: w, Container: "ro", Type: "app", ReadOnlyRoot: model.Flag(true), RootfsPeak: model.Some(0.0)},
			// One pod read-only, another not: not read-only.
			{Workload: w, Container: "mixed", Type: "app", ReadOnlyRoot: model.Flag(true), RootfsPeak: model.Some(0.0)},
			{Workload: w, Container: "mixed", Type: "app", ReadOnlyRoot: model.Flag(false), RootfsPeak: model.Some(0.0)},
			{Workload: w, Container: "nostats", Type: "app", ReadOnlyRoot: model.Flag(false)},
			{Workload: w, Container: "nospec"},
		},
		EvictionsKnown: true,
		Evictions:      []EvictionObservation{{Workload: w, Cause: "empty_dir", Count: 1.97}, {Workload: w, Cause: "pod_limit", Count: 0.2}},
	}
	r := Analyze(in, DefaultSizing())
	if !assert.Len(t, r.Workloads, 1) {
		return
	}
	a := r.Workloads[0]
	changes := map[string]string{}
	for _, e := range a.EmptyDirs {
		changes[e.Volume] = e.Change + " " + e.SuggestedSizeLimit
	}
	assert.Equal(t, map[string]string{"cache": "raise 125Mi", "unbounded": "set 10Mi", "exact": "keep 125Mi"}, changes)
	verdicts := map[string]string{}
	for _, c := range a.Containers {
		verdicts[c.Container] = c.ReadOnlyRoot.Verdict
		assert.Equal(t, 260*Mi, c.EmptyDirSizeLimitsBytes, c.Container)
	}
	assert.Equal(t, map[string]string{"clean": ReadOnlySafe, "writer": ReadOnlyWrites, "ro": ReadOnlyEnabled,
		"mixed": ReadOnlySafe, "nostats": ReadOnlyUnknown, "nospec": ReadOnlyUnknown}, verdicts)
	if assert.Len(t, a.MemoryEmptyDirs, 1) {
		assert.Equal(t, 16*Mi, *a.MemoryEmptyDirs[0].HeadroomBytes)
		assert.InDelta(t, 0.75, *a.MemoryEmptyDirs[0].UsedRatio, 1e-9)
	}
	assert.Equal(t, []Eviction{{Cause: "empty_dir", Count: 2}}, a.Evictions, "increase() is rounded; 0 is dropped")
	assert.Nil(t, a.ReadOnlyFailures, "unknown, not none")
}

func TestParseSelector(t *testing.T) {
	matchers, names, err := ParseSelector(`{cluster="prod", env=~'a|b',team!="x\"y"}`)
	assert.NoError(t, err)
	assert.Equal(t, []string{`cluster="prod"`, `env=~"a|b"`, `team!="x\"y"`}, matchers)
	assert.Equal(t, []string{"cluster", "env", "team"}, names)
	for _, bad := range []string{`cluster`, `cluster=prod`, `cluster="prod" env="x"`, `cluster="prod`, `1x="y"`, `__name__="x"`} {
		_, _, err := ParseSelector(bad)
		assert.Error(t, err, bad)
	}
	_, _, err = ParseSelector("")
	assert.NoError(t, err)
}

// The capacity recording rules (alerts/config.yaml recording:) suggest sizes with the same model
// and numbers as advise: one sizing model (docs/advise.md#the-rules).
func TestSizingMatchesRecordingRules(t *testing.T) {
	raw, err := os.ReadFile("../alerts/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Recording struct {
			Headroom    float64 `json:"headroom"`
			LimitFactor float64 `json:"limit_factor"`
			Floor       int64   `json:"floor"`
			LogFloor    int64   `json:"log_floor"`
		} `json:"recording"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, DefaultHeadroom, c.Recording.Headroom, "emptyDir headroom")
	assert.Equal(t, RequestOverhead, c.Recording.Headroom, "request overhead")
	assert.Equal(t, float64(LimitFactor), c.Recording.LimitFactor)
	assert.Equal(t, DefaultFloor, c.Recording.Floor)
	assert.Equal(t, DefaultLogRotation().Floor(), c.Recording.LogFloor, "log rotation floor, 10Mi x 5")
}
