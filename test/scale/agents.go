package scale

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Agent is one real agent process, its API traffic going through its own CountingProxy.
type Agent struct {
	Node    string
	Proxy   *CountingProxy
	Metrics string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	done    chan struct{}
	log     *os.File
}

// AgentConfig says how to run agents.
type AgentConfig struct {
	Bin       string
	Dir       string // kubeconfigs, tokens
	LogDir    string // agent logs (kept with the artifacts)
	Token     string // for the API server
	CA        string // signs the fake kubelets' certificate
	ExtraArgs []string
}

// KnowsCommand says whether the binary has a subcommand (e.g. events, the cluster-scoped role).
func KnowsCommand(bin, command string) bool {
	return exec.Command(bin, command, "--help").Run() == nil
}

// KnowsFlag says whether the agent binary has a serve flag (e.g. --events.cluster-watch, which
// exists only once the per-node Events redesign is in).
func KnowsFlag(bin, flag string) (bool, error) {
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("%s serve --help: %w: %s", bin, err, out)
	}
	name := strings.TrimPrefix(flag, "--")
	return strings.Contains(string(out), "--"+name+" ") || strings.Contains(string(out), "--"+name+"=") ||
		strings.Contains(string(out), "--[no-]"+name+" ") || strings.Contains(string(out), "--[no-]"+name+"\n"), nil
}

// StartAgent runs `serve` for node, its kubelet at kubeletURL, its API server requests through proxy.
func StartAgent(cfg AgentConfig, proxy *CountingProxy, kubeletURL string) (*Agent, error) {
	tokenFile := filepath.Join(cfg.Dir, proxy.Node+"-kubelet-token")
	if err := os.WriteFile(tokenFile, []byte("scale-kubelet-token\n"), 0o600); err != nil {
		return nil, err
	}
	return startProcess(cfg, proxy, func(kubeconfig, listen string) []string {
		return append([]string{"serve", "--node.name", proxy.Node, "--kubeconfig", kubeconfig,
			"--kubelet.url", kubeletURL, "--kubelet.ca-file", cfg.CA, "--kubelet.token-file", tokenFile,
			"--web.listen-address", listen, "--no-readonly.hint-events"}, cfg.ExtraArgs...)
	})
}

// StartEventsRole runs the cluster-scoped events role (one replica, its Lease in namespace
// default), its API server requests through proxy: the ephemeral-storage-events binary beside the
// agent's, or, for an agent built before the role had its own binary, its `events` subcommand.
func StartEventsRole(cfg AgentConfig, proxy *CountingProxy) (*Agent, error) {
	var sub []string
	if events := filepath.Join(filepath.Dir(cfg.Bin), "ephemeral-storage-events"); fileExists(events) {
		cfg.Bin = events
	} else {
		sub = []string{"events"}
	}
	return startProcess(cfg, proxy, func(kubeconfig, listen string) []string {
		return append(sub, "--kubeconfig", kubeconfig, "--leader-election.namespace", "default",
			"--leader-election.identity", "scale-events-0", "--web.listen-address", listen)
	})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func startProcess(cfg AgentConfig, proxy *CountingProxy, argv func(kubeconfig, listen string) []string) (*Agent, error) {
	node := proxy.Node
	dir := filepath.Join(cfg.Dir, node)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %q}\nusers:\n- name: u\n  user: {token: %q}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n", proxy.URL, cfg.Token)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(cfg.LogDir, node+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Bin, argv(kubeconfig, fmt.Sprintf("127.0.0.1:%d", port))...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NODE_NAME=" + node}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the harness
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	a := &Agent{Node: node, Proxy: proxy, Metrics: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(a.done) }()
	return a, nil
}

// WaitReady waits until /readyz answers 200 (informers synced, a summary read), or ctx ends.
func (a *Agent) WaitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-a.done:
			return fmt.Errorf("agent %s exited: %v; log %s:\n%s", a.Node, a.cmd.ProcessState, a.log.Name(), tail(a.log.Name()))
		default:
		}
		if resp, err := client.Get(a.Metrics + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent %s not ready: %w; log %s:\n%s", a.Node, ctx.Err(), a.log.Name(), tail(a.log.Name()))
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM and waits up to 10 s, then kills; stopping twice is harmless.
func (a *Agent) Stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.log.Close()
}

// Proc is a process's resident memory and CPU time, from /proc.
type Proc struct {
	RSS int64   // bytes (VmRSS)
	CPU float64 // seconds (utime + stime)
}

// ReadProc reads /proc/PID/status and /proc/PID/stat.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return p, err
			}
			p.RSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// Fields after the command name (which may hold spaces) start at state; utime and stime are
	// fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(rest) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(rest))
	}
	utime, err1 := strconv.ParseFloat(rest[11], 64)
	stime, err2 := strconv.ParseFloat(rest[12], 64)
	if err1 != nil || err2 != nil {
		return p, fmt.Errorf("/proc/%d/stat: utime/stime", pid)
	}
	p.CPU = (utime + stime) / 100
	return p, nil
}

// Proc of the agent.
func (a *Agent) Proc() (Proc, error) { return ReadProc(a.cmd.Process.Pid) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the last lines of a log, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}
