package collector

import (
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/label"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// family is a metric family's declaration: what a reader of /metrics sees of it.
type family struct {
	name   string
	help   string
	labels []string
}

// metric is one storage metric family and how to read its value from one object of a snapshot.
// Exposition renders it for /metrics; the const-metric reference in reference_test.go renders the
// same declaration through client_golang to check the text.
type metric[T any] struct {
	family
	// value of the series for one object; a value that is not OK is no series.
	value func(*T) model.Opt
	// extra label values after the object's own labels, for info metrics.
	extra func(*T) []string
}

func newMetric[T any](subsystem, name, help string, labels []string, value func(*T) model.Opt) *metric[T] {
	return &metric[T]{family: family{name: prometheus.BuildFQName(namespace, subsystem, name), help: help, labels: labels}, value: value}
}

func newInfo[T any](subsystem, name, help string, labels []string, known func(*T) bool, extra func(*T) []string) *metric[T] {
	m := newMetric(subsystem, name, help, labels, func(x *T) model.Opt { return model.Opt{Value: 1, OK: known(x)} })
	m.extra = extra
	return m
}

// header writes the family's HELP and TYPE lines.
func (m *metric[T]) header(buf []byte) []byte {
	buf = append(buf, "# HELP "...)
	buf = append(buf, m.name...)
	buf = append(buf, ' ')
	buf = append(buf, m.help...)
	buf = append(buf, "\n# TYPE "...)
	buf = append(buf, m.name...)
	return append(buf, " gauge\n"...)
}

// sample writes x's series; labels is the object's rendered label set without the closing brace.
func (m *metric[T]) sample(buf []byte, x *T, labels []byte) []byte {
	v := m.value(x)
	if !v.OK {
		return buf
	}
	buf = append(buf, m.name...)
	buf = append(buf, labels...)
	if m.extra != nil {
		extra := m.extra(x)
		for i, value := range extra {
			buf = appendLabel(buf, m.labels[len(m.labels)-len(extra)+i], value)
		}
	}
	buf = append(buf, "} "...)
	buf = appendFloat(buf, v.Value)
	return append(buf, '\n')
}

// appendLabels renders `{name="value",...` (no closing brace) for an object's labels.
func appendLabels(buf []byte, names, values []string) []byte {
	buf = append(buf, '{')
	for i, value := range values {
		buf = appendLabel(buf, names[i], value)
	}
	return buf
}

// appendLabel renders one label. Every label value of the exposition passes here, so this is where
// it is made valid UTF-8 and bounded (label.Value): one invalid byte would make the whole
// exposition unparseable, and a value is never longer than label.MaxBytes.
func appendLabel(buf []byte, name, value string) []byte {
	if buf[len(buf)-1] != '{' {
		buf = append(buf, ',')
	}
	buf = append(buf, name...)
	buf = append(buf, `="`...)
	buf = appendEscaped(buf, label.Value(value))
	return append(buf, '"')
}

// appendEscaped escapes a label value as the text format requires: backslash, quote, newline.
func appendEscaped(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		case '\n':
			buf = append(buf, `\n`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

// appendFloat formats a sample value as expfmt does.
func appendFloat(buf []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(buf, '1')
	case f == 0:
		return append(buf, '0')
	case math.IsInf(f, 1):
		return append(buf, "+Inf"...)
	case math.IsInf(f, -1):
		return append(buf, "-Inf"...)
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

// appendFamily writes one metric family over objects, skipping it whole when no object has a value, as a
// registry's Gather does. labels(i) is object i's rendered label set. Once the family has a sample
// and the buffer holds flushAt bytes, flush hands it on, so that a large family does not grow it.
func appendFamily[T any](buf []byte, flush func([]byte) []byte, m *metric[T], n int, object func(int) *T, labels func(int) []byte) []byte {
	start := len(buf)
	buf = m.header(buf)
	body := len(buf)
	for i := range n {
		buf = m.sample(buf, object(i), labels(i))
		if len(buf) >= flushAt && len(buf) > body {
			buf = flush(buf)
			start, body = -1, -1 // the header is out: the family is not empty
		}
	}
	if len(buf) == body {
		return buf[:start]
	}
	return buf
}
