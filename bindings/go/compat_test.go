// SPDX-License-Identifier: MIT

package numballoc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadShared(t *testing.T) {
	name := poolName(t)
	mem, err := LoadShared(name, 2) // 16 numbers
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Size() != 2 {
		t.Fatalf("Size = %d", mem.Size())
	}
	a := ConcurrentBitmap(mem, 0)
	if a.Max() != 16 {
		t.Fatalf("Max = %d", a.Max())
	}
	if m := ConcurrentBitmap(mem, 100).Max(); m != 16 {
		t.Fatalf("Max above the size = %d", m)
	}
	b := ConcurrentBitmap(mem, 5)
	if b.Max() != 5 {
		t.Fatalf("Max(5) = %d", b.Max())
	}
	for i := uint64(0); i < 5; i++ {
		n, err := b.Allocate()
		if err != nil || n != i {
			t.Fatalf("Allocate = %d, %v; want %d", n, err, i)
		}
	}
	if _, err := b.Allocate(); err != ErrNoFreeNumber {
		t.Fatalf("Allocate past max: %v", err)
	}
	// the full-size allocator still has numbers above 5
	if n, err := a.Allocate(); err != nil || n != 5 {
		t.Fatalf("Allocate = %d, %v", n, err)
	}
	if err := b.Free(3); err != nil {
		t.Fatal(err)
	}
	err = b.Free(3)
	if err == nil || !errors.Is(err, ErrNotExist) || err != ErrNotAllocated {
		t.Fatalf("Free twice: %v", err)
	}
	if err := b.Free(5); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Free at max: %v", err)
	}
	// A second load with the same size sees the same numbers.
	mem2, err := LoadShared(name, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ConcurrentBitmap(mem2, 0).Allocate(); err != nil || n != 3 {
		t.Fatalf("second handle Allocate = %d, %v; want 3", n, err)
	}
	mem2.Close()
	if err := mem2.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close twice: %v", err)
	}
	// The old package crashed here (SIGBUS); we refuse.
	if _, err := LoadShared(name, 3); !errors.Is(err, ErrInvalid) {
		t.Fatalf("LoadShared with another size: %v", err)
	}
	if _, err := LoadShared(poolName(t), 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("LoadShared size 0: %v", err)
	}
	if err := DestroyShared(name); err != nil {
		t.Fatal(err)
	}
	if err := DestroyShared(name); !errors.Is(err, ErrNotExist) {
		t.Fatalf("DestroyShared twice: %v", err)
	}
	// the handle outlives the name
	if _, err := a.Allocate(); err != nil {
		t.Fatal(err)
	}
}

// The 2015 README's example, with only its import path changed, builds
// and runs. It uses the fixed name "my-memory-region": skipped if some
// other program has a pool by that name.
func TestReadmeExample(t *testing.T) {
	const region = "my-memory-region"
	if _, err := os.Stat("/dev/shm/" + region); err == nil {
		t.Skip("/dev/shm/" + region + " exists: not ours to remove")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to build the example")
		}
	}
	exe := filepath.Join(t.TempDir(), "readme")
	build := exec.Command(gobin, "build", "-buildvcs=false", "-o", exe, "./examples/readme")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	defer DestroyShared(region)
	for _, want := range []string{"0", "1"} { // the first process holds 0 at its exit
		out, err := exec.Command(exe).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Fatalf("example: %v: %q, want %q", err, out, want)
		}
	}
}
