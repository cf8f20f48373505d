package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

func adviseDefaults() (*common, *adviseOptions) {
	return &common{evictionHard: accounting.DefaultEvictionHard, imageFs: string(model.ImageFsAuto)},
		&adviseOptions{window: "7d", headroom: 1.2, output: "table", timeout: time.Minute}
}

// The command renders exactly what the advise package's golden files hold for the sample.
func TestAdviseSample(t *testing.T) {
	for format, golden := range map[string]string{"table": "sample.txt", "json": "sample.json", "patch": "sample.yaml"} {
		c, o := adviseDefaults()
		o.sample, o.output = true, format
		var out bytes.Buffer
		require.NoError(t, runAdvise(c, o, &out), format)
		want, err := os.ReadFile("../../advise/testdata/golden/" + golden)
		require.NoError(t, err)
		assert.Equal(t, string(want), out.String(), format)
	}
}

func TestAdviseNamespace(t *testing.T) {
	c, o := adviseDefaults()
	o.sample, o.namespace = true, "db"
	var out bytes.Buffer
	require.NoError(t, runAdvise(c, o, &out))
	assert.Contains(t, out.String(), "== db StatefulSet/postgres")
	assert.NotContains(t, out.String(), "== shop")
}

func TestAdviseFlagErrors(t *testing.T) {
	for name, edit := range map[string]func(*adviseOptions){
		"no source":       func(*adviseOptions) {},
		"two sources":     func(o *adviseOptions) { o.sample, o.prometheusURL = true, "http://127.0.0.1:1" },
		"summary no pods": func(o *adviseOptions) { o.summary = "summary.json" },
		"headroom below 1": func(o *adviseOptions) {
			o.sample, o.headroom = true, 0.9
		},
		"bad window":   func(o *adviseOptions) { o.prometheusURL, o.window = "http://127.0.0.1:1", "a week" },
		"bad selector": func(o *adviseOptions) { o.prometheusURL, o.selector = "http://127.0.0.1:1", "cluster=prod" },
		"bad end":      func(o *adviseOptions) { o.prometheusURL, o.end = "http://127.0.0.1:1", "yesterday" },
	} {
		c, o := adviseDefaults()
		edit(o)
		assert.Error(t, runAdvise(c, o, &bytes.Buffer{}), name)
	}
}
