package main

import "testing"

func TestSoftMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		gomemlimit, containerLimit string
		want                       int64
		ok                         bool
	}{
		{"", "67108864", 40265318, true}, // 64 MiB -> 60%
		{"30MiB", "67108864", 0, false},  // GOMEMLIMIT wins
		{"", "", 0, false},               // no limit given
		{"", "64Mi", 0, false},           // the downward API gives bytes; anything else is ignored
		{"", "0", 0, false},
		{"", "-1", 0, false},
	} {
		got, ok := softMemoryLimit(tt.gomemlimit, tt.containerLimit)
		if got != tt.want || ok != tt.ok {
			t.Errorf("softMemoryLimit(%q, %q) = %d, %v; want %d, %v", tt.gomemlimit, tt.containerLimit, got, ok, tt.want, tt.ok)
		}
	}
}
