// SPDX-License-Identifier: MIT

package numballoc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

var nameSeq int64

// poolName returns a shared-memory name unique to this process and test,
// unlinked when the test ends (whatever kind of pool it names).
func poolName(t *testing.T) string {
	t.Helper()
	n := fmt.Sprintf("nbgo-%d-%s-%d", os.Getpid(),
		strings.NewReplacer("/", "_").Replace(t.Name()), atomic.AddInt64(&nameSeq, 1))
	t.Cleanup(func() { Unlink(n) })
	return n
}

func mustOpen(t *testing.T, name string, o Options) *Pool {
	t.Helper()
	p, err := Open(name, o)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func wantErr(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: got %v, want %v", what, err, sentinel)
	}
}

func TestPoolIDs(t *testing.T) {
	p := mustOpen(t, poolName(t), Options{Capacity: 64, Base: 100, Flags: Create})
	id, err := p.Alloc()
	if err != nil || id != 100 {
		t.Fatalf("Alloc = %d, %v; want 100 (lowest)", id, err)
	}
	if id, err = p.AllocIn(110, 120); err != nil || id != 110 {
		t.Fatalf("AllocIn(110, 120) = %d, %v", id, err)
	}
	if err = p.AllocID(111); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "AllocID of a held ID", p.AllocID(111), ErrExist)
	wantErr(t, "AllocID outside", p.AllocID(99), ErrInvalid)
	first, err := p.AllocBlock(8, 8)
	// Aligned from the base: 108 would overlap 110 and 111.
	if err != nil || first != 116 {
		t.Fatalf("AllocBlock(8, 8) = %d, %v; want 116", first, err)
	}
	if ok, err := p.Test(117); !ok || err != nil {
		t.Fatalf("Test(117) = %v, %v", ok, err)
	}
	if ok, err := p.Test(101); ok || err != nil {
		t.Fatalf("Test(101) = %v, %v", ok, err)
	}
	if _, err := p.Test(164); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Test outside: %v", err)
	}
	if n, err := p.Next(101); n != 110 || err != nil {
		t.Fatalf("Next(101) = %d, %v", n, err)
	}
	if n, err := p.Next(112); n != 116 || err != nil {
		t.Fatalf("Next(112) = %d, %v", n, err)
	}
	if _, err := p.Next(124); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Next past the last: %v", err)
	}
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Capacity != 64 || st.Base != 100 || st.Used != 11 || st.Free != 53 || st.Policy != Lowest {
		t.Fatalf("Stat = %+v", st)
	}
	wantErr(t, "FreeBlock over a free ID", p.FreeBlock(115, 2), ErrNotExist)
	if ok, _ := p.Test(116); !ok {
		t.Fatal("a refused FreeBlock freed something")
	}
	if err = p.FreeBlock(116, 8); err != nil {
		t.Fatal(err)
	}
	if err = p.Free(100); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Free twice", p.Free(100), ErrNotExist)
	if _, err := p.AllocIn(200, 300); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AllocIn disjoint: %v", err)
	}
	if _, err := p.AllocBlock(0, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AllocBlock(0): %v", err)
	}
	if _, err := p.AllocBlock(65, 1); err == nil {
		t.Fatal("AllocBlock larger than the pool succeeded")
	}
}

func TestFullAndErrorValues(t *testing.T) {
	p := mustOpen(t, "", Options{Capacity: 3}) // private
	for i := 0; i < 3; i++ {
		if _, err := p.Alloc(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := p.Alloc()
	wantErr(t, "Alloc from a full pool", err, ErrFull)
	wantErr(t, "errno", err, syscall.ENOSPC)
	var e *Error
	if !errors.As(err, &e) || e.Op != "alloc" || e.Errno != syscall.ENOSPC {
		t.Fatalf("errors.As: %#v", err)
	}
	if !strings.HasPrefix(err.Error(), "numballoc: alloc: ") || len(err.Error()) <= len("numballoc: alloc: ") {
		t.Fatalf("message %q", err.Error())
	}
	if errors.Is(err, ErrExist) || errors.Is(err, ErrInvalid) {
		t.Fatal("ENOSPC matches other sentinels")
	}
	if _, err := p.AllocBlock(1, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("AllocBlock full: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	name := poolName(t)
	_, err := Open(name, Options{})
	wantErr(t, "Open missing", err, ErrNotExist)
	wantErr(t, "Open missing, fs", err, fs.ErrNotExist)
	p := mustOpen(t, name, Options{Capacity: 10, Flags: Create})
	_, err = Open(name, Options{Capacity: 10, Flags: Create | Excl})
	wantErr(t, "Open Excl", err, ErrExist)
	_, err = Open(name, Options{Capacity: 11})
	wantErr(t, "Open another capacity", err, ErrInvalid)
	_, err = Open(name, Options{Flags: 0x80})
	wantErr(t, "unknown flag", err, ErrInvalid)
	_, err = Open("", Options{})
	wantErr(t, "private of capacity 0", err, ErrInvalid)
	q := mustOpen(t, name, Options{}) // the pool as it is
	if st, _ := q.Stat(); st.Capacity != 10 {
		t.Fatalf("capacity %d", st.Capacity)
	}
	_, err = OpenBuffer(name, BufferOptions{})
	wantErr(t, "a buffer on an ID pool", err, ErrKind)

	bad := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(bad, make([]byte, 4096), 0o600)
	_, err = Open("", Options{Path: bad})
	wantErr(t, "Open a file of zeros", err, ErrCorrupt)

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Close twice", p.Close(), ErrClosed)
	if _, err := p.Alloc(); err != ErrClosed {
		t.Fatalf("Alloc after Close: %v", err)
	}
	for what, err := range map[string]error{
		"AllocID": p.AllocID(1), "Free": p.Free(1), "FreeBlock": p.FreeBlock(1, 1),
		"SetOwner": p.SetOwner(0),
	} {
		wantErr(t, what+" after Close", err, ErrClosed)
	}
	if _, err := p.AllocIn(0, 1); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.AllocBlock(1, 1); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.Test(1); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.Next(0); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.Stat(); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.Owner(0); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.Reclaim(); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := p.FreeOwner(1); err != ErrClosed {
		t.Fatal(err)
	}
	if err := Unlink(name); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Unlink twice", Unlink(name), ErrNotExist)
}

func TestFilePoolAndPolicies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	p := mustOpen(t, "", Options{Path: path, Capacity: 100, Policy: Cyclic, Flags: Create, Mode: 0o640})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("file %v %v", fi, err)
	}
	a, _ := p.Alloc()
	p.Free(a)
	b, _ := p.Alloc()
	if b != a+1 {
		t.Fatalf("cyclic handed out %d after %d", b, a)
	}
	q := mustOpen(t, "", Options{Path: path})
	if ok, _ := q.Test(b); !ok {
		t.Fatal("a second handle does not see the allocation")
	}
	if st, _ := q.Stat(); st.Policy != Cyclic {
		t.Fatalf("policy %d", st.Policy)
	}
}

func TestOwners(t *testing.T) {
	p := mustOpen(t, poolName(t), Options{Capacity: 50, Flags: Create | Owners})
	id, _ := p.Alloc()
	if pid, err := p.Owner(id); err != nil || pid != os.Getpid() {
		t.Fatalf("Owner = %d, %v", pid, err)
	}
	if _, err := p.Owner(id + 1); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Owner of a free ID: %v", err)
	}
	if st, _ := p.Stat(); st.Flags&Owners == 0 {
		t.Fatal("Stat does not show Owners")
	}
	// A holder that dies: a child process we start and kill.
	child, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
	if err != nil {
		t.Skip("cannot start /bin/sleep:", err)
	}
	if err := p.SetOwner(child.Pid); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := p.Alloc(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Reclaim(); err != nil || n != 0 {
		t.Fatalf("Reclaim while the holder lives = %d, %v", n, err)
	}
	child.Kill()
	child.Wait()
	if n, err := p.Reclaim(); err != nil || n != 3 {
		t.Fatalf("Reclaim = %d, %v; want 3", n, err)
	}
	wantErr(t, "SetOwner of a dead pid", p.SetOwner(child.Pid), ErrNoProcess)
	p.SetOwner(0)
	p.Alloc()
	if n, err := p.FreeOwner(os.Getpid()); err != nil || n != 2 {
		t.Fatalf("FreeOwner = %d, %v; want 2", n, err)
	}
	plain := mustOpen(t, "", Options{Capacity: 5})
	wantErr(t, "SetOwner without Owners", plain.SetOwner(0), ErrNotSupported)
	if _, err := plain.Reclaim(); !errors.Is(err, ErrNotSupported) {
		t.Fatal(err)
	}
	if _, err := plain.Owner(0); !errors.Is(err, ErrNotSupported) {
		t.Fatal(err)
	}
	if _, err := plain.FreeOwner(1); !errors.Is(err, ErrNotSupported) {
		t.Fatal(err)
	}
}

// Goroutines of one process on one handle: a witness per ID catches an ID
// handed to two goroutines at once; Close waits for calls in flight.
func TestGoroutines(t *testing.T) {
	const ids, workers, rounds = 256, 8, 3000
	p := mustOpen(t, poolName(t), Options{Capacity: ids, Policy: Spread, Flags: Create})
	witness := make([]int32, ids)
	var bad, full int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []uint64
			for i := 0; i < rounds; i++ {
				if len(held) < 40 && i%3 != 0 {
					id, err := p.Alloc()
					if errors.Is(err, ErrFull) {
						atomic.AddInt64(&full, 1)
						continue
					}
					if err != nil || !atomic.CompareAndSwapInt32(&witness[id], 0, 1) {
						atomic.AddInt64(&bad, 1)
						continue
					}
					held = append(held, id)
				} else if len(held) > 0 {
					id := held[len(held)-1]
					held = held[:len(held)-1]
					atomic.StoreInt32(&witness[id], 0)
					if p.Free(id) != nil {
						atomic.AddInt64(&bad, 1)
					}
				}
			}
			for _, id := range held {
				atomic.StoreInt32(&witness[id], 0)
				p.Free(id)
			}
		}()
	}
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d violations", bad)
	}
	if st, _ := p.Stat(); st.Used != 0 {
		t.Fatalf("%d IDs left allocated", st.Used)
	}
	// Close while goroutines call: they get ErrClosed or a result, never a crash.
	q := mustOpen(t, poolName(t), Options{Capacity: 64, Flags: Create})
	var seen int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id, err := q.Alloc()
				if err == ErrClosed {
					atomic.AddInt64(&seen, 1)
					return
				}
				if err == nil {
					q.Free(id)
				}
			}
		}()
	}
	q.Close()
	wg.Wait()
	if seen != 4 {
		t.Fatalf("%d goroutines saw ErrClosed", seen)
	}
}
