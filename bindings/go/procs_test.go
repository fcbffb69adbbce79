// SPDX-License-Identifier: MIT

package numballoc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"
)

// The test binary runs itself as a child when NUMBALLOC_GO_CHILD is set:
// a real process on the same shared pool (a handle is not inherited).
func TestMain(m *testing.M) {
	if f, ok := accessRoles[os.Getenv("NUMBALLOC_GO_CHILD")]; ok {
		os.Exit(f(os.Args[len(os.Args)-2:]))
	}
	if role := os.Getenv("NUMBALLOC_GO_CHILD"); role != "" {
		os.Exit(child(role, os.Args[len(os.Args)-3:]))
	}
	os.Exit(m.Run())
}

// mapWitness maps the witness file: one int32 per ID, 1 while held.
func mapWitness(path string, n int) ([]int32, []byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, n*4, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), n), b, nil
}

// child: ARGS = pool name, witness path, rounds. It allocates and frees at
// random, marks each ID it holds in the witness with a compare-and-swap
// that must find it unmarked, keeps what it holds at the end, and prints
// "held N" or the violations.
func child(role string, args []string) int {
	name, wpath := args[0], args[1]
	rounds, _ := strconv.Atoi(args[2])
	var p *Pool
	var err error
	switch role {
	case "ids":
		p, err = Open(name, Options{})
	case "compat":
		var mem SharedMemory
		if mem, err = LoadShared(name, 32); err == nil {
			p = mem.pool()
		}
	}
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	st, _ := p.Stat()
	w, raw, err := mapWitness(wpath, int(st.Capacity))
	if err != nil {
		fmt.Println("witness:", err)
		return 1
	}
	defer syscall.Munmap(raw)
	var held []uint64
	bad := 0
	seed := uint64(os.Getpid())*2654435761 + 1
	for i := 0; i < rounds; i++ {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		if seed%2 == 0 || len(held) == 0 {
			id, err := p.Alloc()
			if errors.Is(err, ErrFull) {
				continue
			}
			if err != nil {
				fmt.Println("alloc:", err)
				return 1
			}
			if !atomic.CompareAndSwapInt32(&w[id-st.Base], 0, 1) {
				bad++
				continue
			}
			held = append(held, id)
		} else {
			k := int(seed>>8) % len(held)
			id := held[k]
			held[k] = held[len(held)-1]
			held = held[:len(held)-1]
			atomic.StoreInt32(&w[id-st.Base], 0)
			if err := p.Free(id); err != nil {
				fmt.Println("free:", err)
				return 1
			}
		}
	}
	if bad > 0 {
		fmt.Println("violations", bad)
		return 1
	}
	fmt.Println("held", len(held))
	return 0
}

// runChildren starts n children of role on pool name and returns the sum
// of what they still hold.
func runChildren(t *testing.T, role, name string, ids, n, rounds int) uint64 {
	t.Helper()
	wpath := filepath.Join(t.TempDir(), "witness")
	if err := os.WriteFile(wpath, make([]byte, ids*4), 0o600); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], name, wpath, strconv.Itoa(rounds))
		cmds[i].Env = append(os.Environ(), "NUMBALLOC_GO_CHILD="+role)
		outs[i] = new(bytes.Buffer)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	var total uint64
	for i, c := range cmds {
		err := c.Wait()
		out := strings.TrimSpace(outs[i].String())
		var h uint64
		if err != nil || !strings.HasPrefix(out, "held ") {
			t.Fatalf("child %d: %v: %s", i, err, out)
		}
		fmt.Sscanf(out, "held %d", &h)
		total += h
	}
	return total
}

func TestProcesses(t *testing.T) {
	const ids = 200
	name := poolName(t)
	p := mustOpen(t, name, Options{Capacity: ids, Base: 1000, Policy: Spread, Flags: Create})
	held := runChildren(t, "ids", name, ids, 4, 20000)
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Used != held {
		t.Fatalf("the pool counts %d used, the children hold %d", st.Used, held)
	}
}

// The compatibility layer shares its pool between processes too.
func TestProcessesCompat(t *testing.T) {
	name := poolName(t)
	mem, err := LoadShared(name, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	held := runChildren(t, "compat", name, 256, 3, 10000)
	if st, _ := mem.pool().Stat(); st.Used != held {
		t.Fatalf("the pool counts %d used, the children hold %d", st.Used, held)
	}
}
