package main

import (
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

// The eviction.* flags are parsed as the kubelet parses --eviction-hard, --eviction-soft,
// --eviction-soft-grace-period and --eviction-minimum-reclaim (ParseThresholdConfig,
// parseGracePeriods, parseMinimumReclaims in pkg/kubelet/eviction/helpers.go, k8s.io/kubernetes
// v1.37.2), and refused by Validate() naming the flag at fault.
func TestEvictionFlagsParse(t *testing.T) {
	type want struct {
		signal      string
		hard        bool
		grace       string // soft only
		minReclaim  string // "" when none
		resolvedAt1 int64  // the value resolved against a capacity of 1e9
	}
	for _, tc := range []struct {
		name string
		args []string
		err  string // empty: valid
		want []want // nodefs.available thresholds only, hard first
	}{
		{"defaults: hard only, no reclaim", nil, "", []want{{signal: "nodefs.available", hard: true, resolvedAt1: 100000001}}},
		{"soft with its grace period", []string{"--eviction.soft=nodefs.available<2Gi", "--eviction.soft-grace-period=nodefs.available=1m30s"}, "",
			[]want{{signal: "nodefs.available", hard: true, resolvedAt1: 100000001}, {signal: "nodefs.available", grace: "1m30s", resolvedAt1: 2 << 30}}},
		{"minimum reclaim on hard and soft alike", []string{"--eviction.soft=nodefs.available<20%", "--eviction.soft-grace-period=nodefs.available=1s",
			"--eviction.minimum-reclaim=nodefs.available=500Mi"}, "",
			[]want{{signal: "nodefs.available", hard: true, minReclaim: "500Mi", resolvedAt1: 100000001}, {signal: "nodefs.available", grace: "1s", minReclaim: "500Mi", resolvedAt1: 200000002}}},
		// isHardEvictionThreshold is GracePeriod == 0: a soft threshold with a 0s period is hard.
		{"soft with 0s grace period is hard", []string{"--eviction.soft=nodefs.available<20%", "--eviction.soft-grace-period=nodefs.available=0s"}, "",
			[]want{{signal: "nodefs.available", hard: true, resolvedAt1: 100000001}, {signal: "nodefs.available", hard: true, resolvedAt1: 200000002}}},
		{"a zero minimum reclaim is a quantity the kubelet accepts", []string{"--eviction.minimum-reclaim=nodefs.available=0"}, "",
			[]want{{signal: "nodefs.available", hard: true, minReclaim: "0", resolvedAt1: 100000001}}},
		{"soft 0% is no threshold", []string{"--eviction.soft=nodefs.available<0%"}, "", []want{{signal: "nodefs.available", hard: true, resolvedAt1: 100000001}}},
		{"memory signals accepted and dropped", []string{"--eviction.soft=memory.available<1Gi", "--eviction.soft-grace-period=memory.available=1m",
			"--eviction.minimum-reclaim=memory.available=100Mi"}, "", []want{{signal: "nodefs.available", hard: true, resolvedAt1: 100000001}}},
		{"soft without grace period", []string{"--eviction.soft=nodefs.available<2Gi"}, "--eviction.soft-grace-period: grace period must be specified for the soft eviction threshold nodefs.available", nil},
		{"grace period for another signal", []string{"--eviction.soft=nodefs.available<2Gi", "--eviction.soft-grace-period=imagefs.available=1m"}, "--eviction.soft-grace-period: grace period must be specified", nil},
		{"soft with the hard syntax's separator missing", []string{"--eviction.soft=nodefs.available=2Gi"}, "--eviction.soft: ", nil},
		{"soft zero quantity", []string{"--eviction.soft=nodefs.available<0", "--eviction.soft-grace-period=nodefs.available=1m"}, "--eviction.soft: ", nil},
		{"soft percentage above 100", []string{"--eviction.soft=nodefs.available<101%", "--eviction.soft-grace-period=nodefs.available=1m"}, "--eviction.soft: ", nil},
		{"grace period unknown signal", []string{"--eviction.soft-grace-period=disk.available=1m"}, `--eviction.soft-grace-period: eviction grace period: unknown signal "disk.available"`, nil},
		{"grace period negative", []string{"--eviction.soft-grace-period=nodefs.available=-1s"}, "--eviction.soft-grace-period: invalid eviction grace period", nil},
		{"grace period not a duration", []string{"--eviction.soft-grace-period=nodefs.available=soon"}, "--eviction.soft-grace-period: invalid eviction grace period", nil},
		{"grace period with < instead of =", []string{"--eviction.soft-grace-period=nodefs.available<1m"}, "--eviction.soft-grace-period: ", nil},
		{"minimum reclaim negative", []string{"--eviction.minimum-reclaim=nodefs.available=-1Mi"}, "--eviction.minimum-reclaim: eviction minimum reclaim nodefs.available: invalid quantity", nil},
		{"minimum reclaim 0% (must be positive)", []string{"--eviction.minimum-reclaim=nodefs.available=0%"}, "--eviction.minimum-reclaim: eviction minimum reclaim nodefs.available: invalid percentage", nil},
		{"minimum reclaim unknown signal", []string{"--eviction.minimum-reclaim=rootfs.available=1Gi"}, "--eviction.minimum-reclaim: ", nil},
	} {
		for _, cmd := range []string{cmdServe, cmdReplay} {
			t.Run(cmd+"/"+tc.name, func(t *testing.T) {
				args := []string{cmd, "--node.name=n"}
				if cmd == cmdReplay {
					args = []string{cmd, "--once"}
				}
				name, o, err := parse(append(args, tc.args...))
				if tc.err != "" {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tc.err)
					return
				}
				require.NoError(t, err)
				acc := map[string]accountingOptions{cmdServe: o.serve.accounting, cmdReplay: o.replay.accounting}[name]
				thresholds, err := acc.thresholds()
				require.NoError(t, err)
				var got []want
				for _, th := range thresholds {
					if th.Signal != accounting.SignalNodeFsAvailable {
						continue
					}
					w := want{signal: th.Signal, hard: th.IsHard(), resolvedAt1: th.Resolve(1e9)}
					if !th.IsHard() {
						w.grace = th.GracePeriod.String()
					}
					if th.MinReclaim != nil {
						w.minReclaim = th.MinReclaim.Quantity.String()
					}
					got = append(got, w)
				}
				assert.Equal(t, tc.want, got)
			})
		}
	}
}

// The exported reclaim target and soft series, from the real binary replaying the embedded sample
// node (nodefs = imagefs = containerfs: capacity 100Gi, 30Gi available, 6553600 inodes, 5e6 free;
// read back from the exposition, not assumed). The expected values follow the kubelet's
// arithmetic: GetThresholdQuantity (int64(float64(capacity) * float64(float32 percentage))) for
// threshold and reclaim alike, and thresholdsMet with enforceMinReclaim for the target
// (pkg/kubelet/eviction/helpers.go, v1.37.2).
func TestEvictionFlagsExportedReclaimTarget(t *testing.T) {
	pct := func(capacity float64, p float32) float64 { return float64(int64(capacity * float64(p/100))) }
	type series map[string]float64 // name{labels} prefix -> value; math.NaN(): must be absent
	absent := math.NaN()
	for _, tc := range []struct {
		name string
		args []string
		want func(capBytes, availBytes, inodes float64) series
	}{
		{"no minimum reclaim: the target is the threshold, no soft series", nil, func(c, a, i float64) series {
			return series{
				`ephemeral_storage_node_eviction_reclaim_target_bytes{node="sample-node",signal="nodefs.available"}`: pct(c, 10),
				`ephemeral_storage_node_eviction_reclaim_bytes{node="sample-node",signal="nodefs.available"}`:        0,
				`ephemeral_storage_node_eviction_soft_threshold_bytes{`:                                              absent,
				`ephemeral_storage_node_eviction_soft_grace_period_seconds{`:                                         absent,
			}
		}},
		{"quantity reclaim, copied to the derived containerfs signal", []string{"--eviction.minimum-reclaim=nodefs.available=500Mi"}, func(c, a, i float64) series {
			return series{
				`ephemeral_storage_node_eviction_reclaim_target_bytes{node="sample-node",signal="nodefs.available"}`:      pct(c, 10) + 500<<20,
				`ephemeral_storage_node_eviction_reclaim_target_bytes{node="sample-node",signal="containerfs.available"}`: pct(c, 10) + 500<<20,
				`ephemeral_storage_node_eviction_reclaim_target_bytes{node="sample-node",signal="imagefs.available"}`:     pct(c, 15),
				`ephemeral_storage_node_eviction_reclaim_bytes{node="sample-node",signal="nodefs.available"}`:             0,
			}
		}},
		{"percentage reclaim on inodes, float32 as the kubelet rounds it", []string{"--eviction.minimum-reclaim=imagefs.inodesFree=1%"}, func(c, a, i float64) series {
			return series{
				`ephemeral_storage_node_eviction_reclaim_target_inodes{node="sample-node",signal="imagefs.inodesFree"}`: pct(i, 5) + pct(i, 1),
				`ephemeral_storage_node_eviction_reclaim_target_inodes{node="sample-node",signal="nodefs.inodesFree"}`:  pct(i, 5),
				`ephemeral_storage_node_eviction_reclaim_target_bytes{node="sample-node",signal="imagefs.inodesFree"}`:  absent,
			}
		}},
		{"target above available: bytes still to free", []string{"--eviction.minimum-reclaim=nodefs.available=25Gi"}, func(c, a, i float64) series {
			return series{
				`ephemeral_storage_node_eviction_reclaim_target_bytes{node="sample-node",signal="nodefs.available"}`: pct(c, 10) + 25<<30,
				`ephemeral_storage_node_eviction_reclaim_bytes{node="sample-node",signal="nodefs.available"}`:        pct(c, 10) + 25<<30 - a,
				`ephemeral_storage_node_eviction_reclaim_bytes{node="sample-node",signal="imagefs.available"}`:       0,
			}
		}},
		{"soft threshold and grace period", []string{"--eviction.soft=nodefs.available<20%,nodefs.inodesFree<1000", "--eviction.soft-grace-period=nodefs.available=1m30s,nodefs.inodesFree=2h"}, func(c, a, i float64) series {
			return series{
				`ephemeral_storage_node_eviction_soft_threshold_bytes{node="sample-node",signal="nodefs.available"}`:           pct(c, 20),
				`ephemeral_storage_node_eviction_soft_grace_period_seconds{node="sample-node",signal="nodefs.available"}`:      90,
				`ephemeral_storage_node_eviction_soft_threshold_inodes{node="sample-node",signal="nodefs.inodesFree"}`:         1000,
				`ephemeral_storage_node_eviction_soft_grace_period_seconds{node="sample-node",signal="nodefs.inodesFree"}`:     7200,
				`ephemeral_storage_node_eviction_soft_threshold_ratio{node="sample-node",signal="nodefs.available"}`:           (c - a) / (c - pct(c, 20)),
				`ephemeral_storage_node_eviction_soft_threshold_bytes{node="sample-node",signal="imagefs.available"}`:          absent,
				`ephemeral_storage_node_eviction_soft_grace_period_seconds{node="sample-node",signal="containerfs.available"}`: 90,
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binary, append([]string{"replay", "--once"}, tc.args...)...).Output()
			require.NoError(t, err)
			metrics := string(out)
			capBytes := mustSample(t, metrics, `ephemeral_storage_node_fs_capacity_bytes{node="sample-node",fs="nodefs"}`)
			availBytes := mustSample(t, metrics, `ephemeral_storage_node_fs_available_bytes{node="sample-node",fs="nodefs"}`)
			inodes := mustSample(t, metrics, `ephemeral_storage_node_fs_inodes{node="sample-node",fs="nodefs"}`)
			for prefix, want := range tc.want(capBytes, availBytes, inodes) {
				got, found := sample(metrics, prefix)
				if math.IsNaN(want) {
					assert.False(t, found, "%s must be absent, is %v", prefix, got)
					continue
				}
				if assert.True(t, found, "no series %s", prefix) {
					assert.Equal(t, want, got, prefix)
				}
			}
			assert.False(t, strings.Contains(metrics, "NaN"), "no NaN in the exposition")
		})
	}
}
