package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// EvictionConfig is the part of the kubelet's configuration that decides evictions on storage.
type EvictionConfig struct {
	Hard, Soft, SoftGracePeriod, MinimumReclaim map[string]string
	// LocalStorageCapacityIsolation is nil when /configz does not say (the kubelet's default is true).
	LocalStorageCapacityIsolation *bool
}

// EvictionConfig reads the eviction settings from /configz, like EvictionHard.
func (c *Client) EvictionConfig(ctx context.Context) (EvictionConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := c.get(ctx, "/configz")
	if err != nil {
		return EvictionConfig{}, err
	}
	defer body.Close()
	var configz struct {
		KubeletConfig struct {
			EvictionHard                  map[string]string `json:"evictionHard"`
			EvictionSoft                  map[string]string `json:"evictionSoft"`
			EvictionSoftGracePeriod       map[string]string `json:"evictionSoftGracePeriod"`
			EvictionMinimumReclaim        map[string]string `json:"evictionMinimumReclaim"`
			LocalStorageCapacityIsolation *bool             `json:"localStorageCapacityIsolation"`
		} `json:"kubeletconfig"`
	}
	if err := json.NewDecoder(io.LimitReader(body, c.maxBytes)).Decode(&configz); err != nil {
		return EvictionConfig{}, &Error{Kind: ErrorDecode, Err: fmt.Errorf("decoding /configz: %w", err)}
	}
	k := configz.KubeletConfig
	if k.EvictionHard == nil {
		return EvictionConfig{}, &Error{Kind: ErrorDecode, Err: errors.New("/configz has no kubeletconfig.evictionHard")}
	}
	return EvictionConfig{Hard: k.EvictionHard, Soft: k.EvictionSoft, SoftGracePeriod: k.EvictionSoftGracePeriod,
		MinimumReclaim: k.EvictionMinimumReclaim, LocalStorageCapacityIsolation: k.LocalStorageCapacityIsolation}, nil
}
