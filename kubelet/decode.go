// Package kubelet reads the node's kubelet: its summary API (/stats/summary) and, when allowed,
// its configuration (/configz).
package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// DecodeSummary decodes a /stats/summary body of at most maxBytes bytes with encoding/json into
// the kubelet's full types. Dumps are loaded with it, and it is the reference the live client's
// DecodeSummarySelective is tested against.
func DecodeSummary(r io.Reader, maxBytes int64) (*statsv1alpha1.Summary, error) {
	limited := &io.LimitedReader{R: r, N: maxBytes + 1}
	var summary statsv1alpha1.Summary
	dec := json.NewDecoder(limited)
	err := dec.Decode(&summary)
	if err == nil {
		// One value and nothing after it: a body with more is not a summary.
		if _, next := dec.Token(); next != io.EOF {
			err = fmt.Errorf("data after the JSON value at offset %d", dec.InputOffset())
		}
	}
	if err != nil {
		if limited.N <= 0 {
			return nil, &Error{Kind: ErrorTooLarge, Err: fmt.Errorf("summary larger than %d bytes", maxBytes)}
		}
		return nil, &Error{Kind: ErrorDecode, Err: fmt.Errorf("decoding summary: %w", err)}
	}
	if limited.N <= 0 {
		return nil, &Error{Kind: ErrorTooLarge, Err: fmt.Errorf("summary larger than %d bytes", maxBytes)}
	}
	if summary.Node.NodeName == "" {
		return nil, &Error{Kind: ErrorDecode, Err: errors.New("decoding summary: no node name: not a /stats/summary response")}
	}
	return &summary, nil
}
