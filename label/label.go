// Package label makes strings from the API server, the kubelet, Events and logs safe to use as
// Prometheus label values: valid UTF-8 and bounded in length. Every label value the agent
// exports passes through Value, in the collector's family layer and in the detector's counters,
// so that no caller has to remember it.
package label

import (
	"strings"
	"unicode/utf8"
)

// MaxBytes bounds a label value: longer than any Kubernetes object name (253 bytes, a DNS
// subdomain), so valid names pass unchanged; only unvalidated strings (owner references,
// kubelet-reported names) can reach it.
const MaxBytes = 256

// Replacement stands for each run of invalid UTF-8 bytes.
const Replacement = "\uFFFD"

// Value returns s as valid UTF-8, each run of invalid bytes replaced by one U+FFFD, truncated at a rune
// boundary to at most MaxBytes bytes. Valid short values are returned as is, without allocating.
func Value(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, Replacement)
	}
	if len(s) <= MaxBytes {
		return s
	}
	end := MaxBytes
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end]
}

// Values applies Value to each of values, copying only when one changes.
func Values(values []string) []string {
	out := values
	for i, v := range values {
		if safe := Value(v); safe != v {
			if &out[0] == &values[0] {
				out = append([]string(nil), values...)
			}
			out[i] = safe
		}
	}
	return out
}
