package kubelet

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvictionConfigFromConfigz(t *testing.T) {
	k := newFakeKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		jsonBody(`{"kubeletconfig":{"evictionHard":{"nodefs.available":"10%"},"evictionSoft":{"nodefs.available":"15%"},`+
			`"evictionSoftGracePeriod":{"nodefs.available":"1m30s"},"evictionMinimumReclaim":{"nodefs.available":"500Mi"},`+
			`"localStorageCapacityIsolation":false}}`)(w, r)
	})
	c, err := NewClient(directOptions(t, k), nil)
	require.NoError(t, err)
	got, err := c.EvictionConfig(context.Background())
	require.NoError(t, err)
	isolation := false
	assert.Equal(t, EvictionConfig{
		Hard: map[string]string{"nodefs.available": "10%"}, Soft: map[string]string{"nodefs.available": "15%"},
		SoftGracePeriod: map[string]string{"nodefs.available": "1m30s"}, MinimumReclaim: map[string]string{"nodefs.available": "500Mi"},
		LocalStorageCapacityIsolation: &isolation,
	}, got)
}
