// Command mutate is the project's mutation check: it applies each mutation listed in
// mutations.yaml (one deliberate, single-place break of production code) to a scratch copy of
// the repository, runs the tests that should catch it, and fails when any mutation survives (the
// tests stayed green) or no longer applies (its code moved: update the list with the code).
//
//	go run ./hack/mutate                      # every mutation
//	go run ./hack/mutate -only frozen-metrics # one, by name
//
// The scratch copy holds the files git tracks, as they are in the working tree, so uncommitted
// changes are checked too; the repository itself is never modified.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Mutation is one break: Find must occur exactly once in File and is replaced by Replace.
type Mutation struct {
	Name    string `json:"name"`
	Why     string `json:"why"`
	File    string `json:"file"`
	Find    string `json:"find"`
	Replace string `json:"replace"`
	// Packages are `go test` patterns, relative to Dir (the module directory, default ".").
	Packages []string `json:"packages"`
	Dir      string   `json:"dir,omitempty"`
	// Run narrows the tests (`go test -run`), to keep the check fast.
	Run string `json:"run,omitempty"`
}

type outcome int

const (
	caught outcome = iota
	survived
	stale
)

func main() {
	list := flag.String("list", "hack/mutate/mutations.yaml", "the mutations")
	only := flag.String("only", "", "run only the mutation with this name")
	timeout := flag.Duration("timeout", 5*time.Minute, "per mutation")
	flag.Parse()
	if err := run(*list, *only, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(listPath, only string, timeout time.Duration) error {
	raw, err := os.ReadFile(listPath)
	if err != nil {
		return err
	}
	var muts []Mutation
	if err := yaml.UnmarshalStrict(raw, &muts); err != nil {
		return fmt.Errorf("%s: %w", listPath, err)
	}
	if only != "" {
		muts = filter(muts, only)
		if len(muts) == 0 {
			return fmt.Errorf("no mutation named %q", only)
		}
	}
	scratch, err := os.MkdirTemp("", "mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if err := copyTracked(scratch); err != nil {
		return err
	}
	counts := map[outcome]int{}
	for _, m := range muts {
		start := time.Now()
		o, detail := apply(scratch, m, timeout)
		counts[o]++
		fmt.Printf("%-8s %-40s %5.1fs %s\n", [...]string{"caught", "SURVIVED", "STALE"}[o], m.Name, time.Since(start).Seconds(), detail)
	}
	fmt.Printf("mutations: %d caught of %d (%d survived, %d stale)\n", counts[caught], len(muts), counts[survived], counts[stale])
	if counts[survived]+counts[stale] > 0 {
		return errors.New("every mutation must be caught")
	}
	return nil
}

func filter(muts []Mutation, name string) []Mutation {
	for _, m := range muts {
		if m.Name == name {
			return []Mutation{m}
		}
	}
	return nil
}

// apply breaks one file of the scratch copy, runs the mutation's tests and restores the file.
func apply(scratch string, m Mutation, timeout time.Duration) (outcome, string) {
	path := filepath.Join(scratch, m.File)
	orig, err := os.ReadFile(path)
	if err != nil {
		return stale, err.Error()
	}
	if n := bytes.Count(orig, []byte(m.Find)); n != 1 {
		return stale, fmt.Sprintf("%s: the code to break occurs %d times (want 1)", m.File, n)
	}
	mutated := bytes.Replace(orig, []byte(m.Find), []byte(m.Replace), 1)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return stale, err.Error()
	}
	defer os.WriteFile(path, orig, 0o644) //nolint:errcheck // best effort: the scratch copy is deleted anyway

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"test", "-count=1"}, m.Packages...)
	if m.Run != "" {
		args = append(args, "-run", m.Run)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(scratch, m.Dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err == nil {
		return survived, "tests passed with the break applied"
	}
	if ctx.Err() != nil {
		return caught, "(by timeout: make a test assert it)"
	}
	if strings.Contains(out.String(), "[build failed]") || strings.Contains(out.String(), "[setup failed]") {
		return stale, "the mutation does not compile: " + firstLine(out.String())
	}
	return caught, firstFailure(out.String())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// firstFailure names the first failing test, which is what guards the mutation.
func firstFailure(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--- FAIL:") {
			return strings.TrimSpace(line)
		}
	}
	return firstLine(out)
}

// copyTracked copies the files git tracks (as they are in the working tree) into dir.
func copyTracked(dir string) error {
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if err := copyFile(name, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil // deleted in the working tree
	}
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil || info.IsDir() {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
