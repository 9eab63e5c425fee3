// Package vigiltest runs the real vigil binary in end-to-end tests: built
// once per test process (or taken from VIGIL_BIN, which make test sets), with
// free loopback ports, readiness waits and signal helpers.
package vigiltest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a vigil binary built from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VIGIL_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vigil")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/vigil")
		cmd.Dir = RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("vigiltest: %v", buildErr)
	}
	return binPath
}

// RepoRoot is the module root, found from this source file.
func RepoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("vigiltest: cannot locate source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago,
// for a server the test starts. The port is from 20000 up to the kernel's
// ephemeral range (ip_local_port_range): one the kernel hands out for :0
// is also what it gives outgoing connections, and one could take it before
// the server binds it (in pipeline/e2e a collector failed with "bind:
// address already in use" so). Below 20000 are the test servers' own
// (scripts/infra.sh), which may be down for a moment when a test restarts
// one. No port is handed out twice by a process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo := ephemeralLow()
	freeMu.Lock()
	defer freeMu.Unlock()
	for range 1000 {
		p := 20000 + rand.IntN(lo-20000)
		if freeHanded[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		freeHanded[p] = true
		return ln.Addr().String()
	}
	t.Fatalf("vigiltest: no free port from 20000 to %d", lo)
	return ""
}

var (
	freeMu     sync.Mutex
	freeHanded = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > 21000 {
				return lo
			}
		}
	}
	return 32768
}

// Port returns the port of a host:port address.
func Port(t testing.TB, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("vigiltest: %v", err)
	}
	if _, err := strconv.Atoi(p); err != nil {
		t.Fatalf("vigiltest: port %q: %v", p, err)
	}
	return p
}

// Process is a running vigil subcommand.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs `vigil args...` with extra environment; the process is stopped
// (SIGINT, then SIGKILL after 60 s) when the test ends. Its output is logged
// if the test fails.
func Start(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = RepoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	p := &Process{t: t, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("vigiltest: start %v: %v", args, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(60 * time.Second)
		if t.Failed() {
			t.Logf("vigil %v output:\n%s", args, p.Output())
		}
	})
	return p
}

// Output is everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Wait waits up to d for the process to exit and returns its exit code, or
// -1 if it is still running.
func (p *Process) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGINT and waits up to d, then kills. It returns the exit code.
func (p *Process) Stop(d time.Duration) int {
	if p.Exited() {
		return p.cmd.ProcessState.ExitCode()
	}
	p.Signal(syscall.SIGINT)
	if code := p.Wait(d); code != -1 {
		return code
	}
	p.Signal(syscall.SIGKILL)
	return p.Wait(10 * time.Second)
}

// Kill sends SIGKILL and waits for the exit.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// WaitReady polls http://addr/readyz until it answers 200, failing the test
// after timeout, or at once if the process exits first.
func (p *Process) WaitReady(addr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		if p.Exited() {
			p.t.Fatalf("vigiltest: process exited (%v) before it was ready at %s; output:\n%s", p.err, addr, p.Output())
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("readyz: %s", resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("vigiltest: not ready at %s after %s: %v\noutput:\n%s", addr, timeout, last, p.Output())
}

// Eventually retries f every 200 ms until it returns nil or timeout passes,
// returning the last error. Use it for conditions, never for timing claims.
func Eventually(timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PID is the process id, for reading /proc (e.g. peak RSS).
func (p *Process) PID() int { return p.cmd.Process.Pid }
