package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adviseDefaults are the options of a bare `advise`: every flag at its registered default.
func adviseDefaults() *adviseOptions {
	app, o := newApp()
	if _, err := app.Parse([]string{cmdAdvise}); err != nil {
		panic(err)
	}
	return o.advise
}

// The command renders exactly what the advise package's golden files hold for the sample.
func TestAdviseSample(t *testing.T) {
	for format, golden := range map[string]string{"table": "sample.txt", "json": "sample.json", "patch": "sample.yaml"} {
		o := adviseDefaults()
		o.sample, o.output = true, format
		var out bytes.Buffer
		require.NoError(t, runAdvise(o, &out), format)
		want, err := os.ReadFile("../../advise/testdata/golden/" + golden)
		require.NoError(t, err)
		assert.Equal(t, string(want), out.String(), format)
	}
}

func TestAdviseNamespace(t *testing.T) {
	o := adviseDefaults()
	o.sample, o.namespace = true, "db"
	var out bytes.Buffer
	require.NoError(t, runAdvise(o, &out))
	assert.Contains(t, out.String(), "== db StatefulSet/postgres")
	assert.NotContains(t, out.String(), "== shop")
}

// --kubelet.config replaces the default log rotation floor (10Mi x 5) and the output says where
// the floor comes from.
func TestAdviseKubeletConfig(t *testing.T) {
	for _, tc := range []struct {
		config, wantLogs, wantEtcd string
	}{
		{"", "container limits at least 50Mi = containerLogMaxSize 10Mi x containerLogMaxFiles 5 (kubelet default)", "10Mi               50Mi "},
		{"../../advise/testdata/kubelet-config-synthetic.yaml", "container limits at least 80Mi = containerLogMaxSize 20Mi x containerLogMaxFiles 4 (kubelet config ../../advise/testdata/kubelet-config-synthetic.yaml)", "10Mi               80Mi "},
	} {
		o := adviseDefaults()
		o.sample, o.namespace, o.kubeletConfig = true, "kube-system", tc.config
		var out bytes.Buffer
		require.NoError(t, runAdvise(o, &out))
		assert.Contains(t, out.String(), "logs:   "+tc.wantLogs+"\n")
		assert.Contains(t, out.String(), tc.wantEtcd, "etcd's limit is the log floor")
	}
	o := adviseDefaults()
	o.sample, o.kubeletConfig = true, "does-not-exist.yaml"
	assert.ErrorContains(t, runAdvise(o, &bytes.Buffer{}), "--kubelet.config")
}
