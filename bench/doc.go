// Package bench holds the benchmarks of the agent's hot path, across packages, on synthetic nodes
// of 30, 110 and 250 pods: decoding the summary (the floor), one full cycle (decode, join,
// compute, snapshot) and serving /metrics from a snapshot. docs/performance.md has the numbers and
// the commands that reproduce them.
package bench
