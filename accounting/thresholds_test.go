package accounting

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseThresholdsDefaults(t *testing.T) {
	got, err := ParseThresholds(DefaultEvictionHard)
	require.NoError(t, err)
	require.Len(t, got, 4)
	bySignal := map[string]Threshold{}
	for _, th := range got {
		bySignal[th.Signal] = th
	}
	assert.Equal(t, float32(0.10), bySignal[SignalNodeFsAvailable].Percentage)
	assert.Equal(t, float32(0.05), bySignal[SignalNodeFsInodesFree].Percentage)
	assert.Equal(t, float32(0.15), bySignal[SignalImageFsAvailable].Percentage)
	assert.True(t, bySignal[SignalImageFsInodesFree].IsInodes())
	assert.False(t, bySignal[SignalImageFsAvailable].IsInodes())
}

func TestParseThresholds(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr bool
		want    []Threshold
	}{
		{spec: "memory.available<100Mi,nodefs.available<1Gi", want: []Threshold{{Signal: SignalNodeFsAvailable, Value: Value{Quantity: qty("1Gi")}}}},
		{spec: " containerfs.available < 5% ", want: []Threshold{{Signal: SignalContainerFsAvailable, Value: Value{Percentage: 0.05}}}},
		{spec: "", want: []Threshold{}},
		{spec: "nodefs.available>10%", wantErr: true},
		{spec: "nodefs.avail<10%", wantErr: true},
		{spec: "nodefs.available<110%", wantErr: true},
		{spec: "nodefs.available<-1Gi", wantErr: true},
		{spec: "nodefs.available<lots", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseThresholds(tt.spec)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestResolveAndMet(t *testing.T) {
	// Real numbers from the v1.31 recording: nodefs capacity 1081100128256.
	const capacity = 1081100128256
	th, err := ParseThresholds("nodefs.available<10%")
	require.NoError(t, err)
	threshold := th[0].Resolve(capacity)
	// float32(0.1) is 0.100000001490116..., and the kubelet multiplies by exactly that.
	tenPercent := float32(0.1)
	assert.Equal(t, int64(float64(capacity)*float64(tenPercent)), threshold)
	assert.NotEqual(t, int64(capacity/10), threshold, "float32 rounding is part of the kubelet's arithmetic")
	assert.False(t, Met(threshold, threshold), "available == threshold is not met")
	assert.True(t, Met(threshold, threshold-1), "available == threshold - 1 is")
	assert.False(t, Met(0, 0), "a zero threshold is never met")

	q, err := ParseThresholds("imagefs.available<2Gi")
	require.NoError(t, err)
	assert.Equal(t, int64(2<<30), q[0].Resolve(capacity), "a quantity ignores capacity")
}
