// SPDX-License-Identifier: MIT

package numballoc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The lease calls of the Redis backend (issue 17): SetHolder, ClearHolder,
// Renew and Holder, on a shared-memory pool (ErrNotSupported) and on a
// pool in a real redis-server that the test starts and stops.

func TestLeaseOnSharedMemory(t *testing.T) {
	p := mustOpen(t, poolName(t), Options{Capacity: 64, Flags: Create | Excl})
	id, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetHolder("host-a", time.Second)
	wantErr(t, "SetHolder on shared memory", err, ErrNotSupported)
	if !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("SetHolder: %v is not EOPNOTSUPP", err)
	}
	wantErr(t, "ClearHolder on shared memory", p.ClearHolder(), ErrNotSupported)
	_, err = p.Renew()
	wantErr(t, "Renew on shared memory", err, ErrNotSupported)
	_, err = p.Holder(id)
	wantErr(t, "Holder on shared memory", err, ErrNotSupported)
	if held, err := p.Test(id); err != nil || !held {
		t.Fatalf("Test(%d) after the failures = %v, %v", id, held, err)
	}
	p.Close()
	wantErr(t, "SetHolder after Close", p.SetHolder("host-a", time.Second), ErrClosed)
	_, err = p.Renew()
	wantErr(t, "Renew after Close", err, ErrClosed)
	_, err = p.Holder(id)
	wantErr(t, "Holder after Close", err, ErrClosed)
}

// startRedis starts redis-server on a free loopback port with a temporary
// directory, waits until it answers, and stops it when the test ends. It
// skips when the library cannot open redis:// URLs or there is no server.
func startRedis(t *testing.T) int {
	t.Helper()
	// A build without Redis refuses the scheme before it connects.
	if p, err := Open("redis://127.0.0.1:1/nbgo-probe", Options{}); errors.Is(err, ErrNotSupported) {
		t.Skip("the library was built without Redis (redis:// gives EOPNOTSUPP)")
	} else if err == nil {
		p.Close()
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server in PATH (Debian: redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("cannot listen on 127.0.0.1:", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start redis-server:", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i == 500 {
			t.Fatalf("redis-server on port %d did not answer in 10 s: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return port
}

func TestLeaseOnRedis(t *testing.T) {
	port := startRedis(t)
	url := fmt.Sprintf("redis://127.0.0.1:%d/nbgo-%d", port, os.Getpid())
	p := mustOpen(t, url, Options{Capacity: 64, Flags: Create | Excl})
	defer Unlink(url)

	// Errors before any lease: no holder, bad names, bad TTLs.
	_, err := p.Renew()
	wantErr(t, "Renew without a holder", err, ErrInvalid)
	wantErr(t, "SetHolder(\"\")", p.SetHolder("", time.Minute), ErrInvalid)
	wantErr(t, "SetHolder with a blank", p.SetHolder("host a", time.Minute), ErrInvalid)
	wantErr(t, "SetHolder of 201 bytes", p.SetHolder(string(make([]byte, 201)), time.Minute), ErrInvalid)
	wantErr(t, "SetHolder with ttl 0", p.SetHolder("host-a", 0), ErrInvalid)
	_, err = p.Renew()
	wantErr(t, "Renew after refused SetHolders", err, ErrInvalid)

	// An ID allocated without a holder is not leased.
	plain, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Holder(plain)
	wantErr(t, "Holder of an unleased ID", err, ErrNotExist)
	_, err = p.Holder(plain + 1)
	wantErr(t, "Holder of a free ID", err, ErrNotExist)
	_, err = p.Holder(64)
	wantErr(t, "Holder outside the pool", err, ErrInvalid)

	// A holder with a long lease: Holder names it, Renew counts it.
	name := fmt.Sprintf("host-%d", os.Getpid())
	if err := p.SetHolder(name, time.Minute); err != nil {
		t.Fatal(err)
	}
	id, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.AllocBlock(4, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []uint64{id, first, first + 3} {
		if got, err := p.Holder(x); err != nil || got != name {
			t.Fatalf("Holder(%d) = %q, %v; want %q", x, got, err, name)
		}
	}
	if n, err := p.Renew(); err != nil || n != 5 {
		t.Fatalf("Renew() = %d, %v; want 5", n, err)
	}
	if err := p.Free(first + 1); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Renew(); err != nil || n != 4 {
		t.Fatalf("Renew() after a free = %d, %v; want 4", n, err)
	}
	if _, err := p.Holder(plain); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Holder(%d) of the unleased ID = %v", plain, err)
	}

	// A second handle with a 1 ms lease: its ID is free again once it ends.
	q := mustOpen(t, url, Options{})
	if err := q.SetHolder("short", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	sid, err := q.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n, err := p.Reclaim(); err != nil || n != 1 {
		t.Fatalf("Reclaim() after the 1 ms lease = %d, %v; want 1", n, err)
	}
	if held, err := p.Test(sid); err != nil || held {
		t.Fatalf("Test(%d) after its lease ended = %v, %v; want free", sid, held, err)
	}
	_, err = p.Holder(sid)
	wantErr(t, "Holder of an expired ID", err, ErrNotExist)
	if n, err := q.Renew(); err != nil || n != 0 {
		t.Fatalf("Renew() of the expired holder = %d, %v; want 0", n, err)
	}
	// The long lease is untouched, and ClearHolder stops leasing.
	if n, err := p.Renew(); err != nil || n != 4 {
		t.Fatalf("Renew() of the long holder = %d, %v; want 4", n, err)
	}
	if err := p.ClearHolder(); err != nil {
		t.Fatal(err)
	}
	unleased, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Holder(unleased)
	wantErr(t, "Holder after ClearHolder", err, ErrNotExist)
	_, err = p.Renew()
	wantErr(t, "Renew after ClearHolder", err, ErrInvalid)
}
