// Command ephemeral-storage-exporter is the per-node agent: it reads its node's kubelet summary,
// joins it with the node's pod specs and serves, on /metrics, local ephemeral storage usage next
// to the limits the kubelet evicts on. `replay` runs the same pipeline on saved files. The
// cluster-scoped events role is its own binary, cmd/ephemeral-storage-events, so that the agent
// links neither leader election nor the generated clientset.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/prometheus/common/promslog"
)

const program = "ephemeral-storage-exporter"

// defaultMaxResponseSize caps a summary after decompression. It is sized so that the worst body
// the agent accepts (just under the cap, gzip bomb included) keeps its peak RSS within the chart's
// memory limit with margin: TestKubeletBodyUnderTheCapFitsTheChartLimit measures it
// (docs/security.md). A 1,500-pod summary is far below it (docs/performance.md).
const defaultMaxResponseSize = "5MiB"

// defaultGCPercent trades a little CPU for a lower peak: the heap is mostly the summary being
// decoded, garbage a cycle later, and at 250 pods GOGC=50 against 100 takes ~3.5 MiB off peak RSS
// (docs/performance.md). GOGC in the environment overrides it.
const defaultGCPercent = 50

// memoryLimitShare of the container's memory limit, given in bytes by the downward API as
// MEMORY_LIMIT, becomes the Go soft memory limit unless GOMEMLIMIT is set: near it the GC works
// harder instead of letting the heap reach the limit. The rest is for what the Go limit does not
// count: the binary's resident pages, about 18 MiB at start and 6 MiB once the startup pages are
// released (binarypages_linux.go, docs/performance.md).
const memoryLimitShare = 0.6

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if limit, ok := softMemoryLimit(os.Getenv("GOMEMLIMIT"), os.Getenv("MEMORY_LIMIT")); ok {
		debug.SetMemoryLimit(limit)
	}
	cmd, o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v, try --help\n", program, err)
		os.Exit(1)
	}
	logger := promslog.New(&o.log)
	switch cmd {
	case cmdServe:
		err = serve(o.serve, logger)
	case cmdReplay:
		err = runReplay(o.replay, logger)
	case cmdAdvise:
		err = runAdvise(o.advise, os.Stdout)
	}
	if err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// softMemoryLimit is the Go memory limit derived from the container's memory limit in bytes, when
// GOMEMLIMIT does not set one.
func softMemoryLimit(gomemlimit, containerLimit string) (int64, bool) {
	if gomemlimit != "" {
		return 0, false
	}
	limit, err := strconv.ParseInt(containerLimit, 10, 64)
	if err != nil || limit <= 0 {
		return 0, false
	}
	return int64(float64(limit) * memoryLimitShare), true
}
