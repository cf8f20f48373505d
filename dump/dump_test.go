package dump

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSample(t *testing.T) {
	d, err := Sample()
	require.NoError(t, err)
	s, err := d.Summary(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "sample-node", s.Node.NodeName)
	assert.Len(t, d.Pods, 5)
	require.NotNil(t, d.Node)
	assert.Equal(t, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), d.Time().UTC())
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.json"), "x", "")
	assert.Error(t, err)
	_, err = DecodePods([]byte("apiVersion: v1\nkind: Node\nmetadata: {name: node1}\n"), "node1")
	assert.ErrorContains(t, err, "want pods")
}
