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
