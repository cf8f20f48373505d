// Command gowriter fails to write a file the ways Go programs report it: a returned error printed
// by the log package, a panic, and structured logs (logfmt and JSON) from log/slog.
// hack/readonly-corpus/record.sh runs it against a read-only mount.
package main

import (
	"fmt"
	"log"
	"log/slog"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: gowriter plain|mkdir|panic|logfmt|json PATH")
	}
	mode, path := os.Args[1], os.Args[2]
	var err error
	if mode == "mkdir" {
		err = os.MkdirAll(path, 0o755)
	} else {
		err = os.WriteFile(path, []byte("x"), 0o644)
	}
	if err == nil {
		return
	}
	switch mode {
	case "panic":
		panic(err)
	case "logfmt":
		slog.New(slog.NewTextHandler(os.Stderr, nil)).Error("saving state", "err", err)
	case "json":
		// %q quotes the path: JSON escapes those quotes.
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("saving state", "err", fmt.Errorf("save %q: %w", path, err))
	default:
		log.Fatal(err)
	}
	os.Exit(1)
}
