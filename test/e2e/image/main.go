// Command e2e-image is the only binary of the e2e suite's test image (hack/e2e/image.sh writes it
// as an OCI layout by hand, since no image can be pulled). The same image is tagged as containerd's
// sandbox (pause) image, so its default mode idles.
//
//	e2e-image                                 idle until SIGTERM/SIGINT (sandbox and idle pods)
//	e2e-image --fill PATH --rate 1MiB/s       append to PATH at that rate (fsync per chunk), then idle;
//	          [--max 64MiB]                   stop filling after that many bytes; exits 143 on SIGTERM
//	e2e-image --write-root /probe             try to create a file on the (read-only) root fs:
//	          [--erofs-exit 1]                prints the result (the Go error on stderr, e.g.
//	                                          "open /probe: read-only file system"); exits with
//	                                          --erofs-exit (default 0) if it was refused with EROFS,
//	                                          1 on another error; idles once written (a fixed workload)
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	fill := flag.String("fill", "", "file to fill")
	rate := flag.String("rate", "1MiB/s", "fill rate, SIZE/s (B, KiB, MiB, GiB)")
	maxS := flag.String("max", "", "stop filling after this many bytes (default: never)")
	writeRoot := flag.String("write-root", "", "try to create this file on the root filesystem")
	erofsExit := flag.Int("erofs-exit", 0, "exit status when --write-root fails with EROFS (1: a workload failing on its read-only root)")
	flag.Parse()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	switch {
	case *writeRoot != "":
		err := os.WriteFile(*writeRoot, []byte("x"), 0o644)
		if err != nil {
			// The Go error as is ("open /probe: read-only file system"): with
			// terminationMessagePolicy FallbackToLogsOnError it becomes the termination message.
			fmt.Fprintln(os.Stderr, err)
			if errors.Is(err, syscall.EROFS) {
				os.Exit(*erofsExit)
			}
			os.Exit(1)
		}
		fmt.Printf("wrote %s\n", *writeRoot) // then idle, as a workload that works

	case *fill != "":
		perSec, err := parseRate(*rate)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var limit int64 = -1
		if *maxS != "" {
			if limit, err = parseSize(*maxS); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
		if err := doFill(*fill, perSec, limit, stop); err != nil {
			fmt.Fprintln(os.Stderr, "fill:", err)
			// keep running: the kubelet, not the workload, decides what happens next
		}
	}
	fmt.Println("idle")
	<-stop
	fmt.Println("terminating")
	if *fill != "" {
		os.Exit(143) // see doFill
	}
}

// doFill writes perSec bytes per second in 10 chunks a second, fsyncing each, so that du-based
// volume stats see the growth steadily.
func doFill(path string, perSec, limit int64, stop <-chan os.Signal) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := perSec / 10
	if chunk < 1 {
		chunk = 1
	}
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i*7 + 1) // not zeros: nothing may sparsify or dedupe it
	}
	fmt.Printf("filling %s at %d B/s\n", path, perSec)
	var written int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for limit < 0 || written < limit {
		select {
		case <-stop:
			// Like a workload that does not handle SIGTERM (dies by it: 128+15). Exiting 0
			// here would make the kubelet (1.34) report an evicted pod as Succeeded, with no
			// Evicted reason or message (observed; only the Evicted event remains).
			fmt.Println("terminated while filling")
			os.Exit(143)
		case <-tick.C:
		}
		n, err := f.Write(buf)
		written += int64(n)
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if time.Since(last) >= time.Second {
			fmt.Printf("written %d bytes\n", written)
			last = time.Now()
		}
	}
	fmt.Printf("done: %d bytes\n", written)
	return nil
}

func parseRate(s string) (int64, error) {
	size, ok := strings.CutSuffix(s, "/s")
	if !ok {
		return 0, fmt.Errorf("rate %q: want SIZE/s", s)
	}
	return parseSize(size)
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("size %q: want a positive integer and a unit", s)
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("size %q: want a unit (B, KiB, MiB, GiB)", s)
}
