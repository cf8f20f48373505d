package collector

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAppendEscaped(t *testing.T) {
	assert.Equal(t, `a\\b\"c\nd`, string(appendEscaped(nil, "a\\b\"c\nd")))
}

func TestAppendFloat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 4096: "4096", 1.2582912e+07: "1.2582912e+07", 0.84: "0.84",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf"} {
		assert.Equal(t, want, string(appendFloat(nil, v)))
	}
	assert.Equal(t, "NaN", string(appendFloat(nil, math.NaN())))
}
