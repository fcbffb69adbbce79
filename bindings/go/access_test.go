// SPDX-License-Identifier: MIT

package numballoc

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The calls of issue 19: ReadOnly, Range, Chown and ReclaimIDs, with
// their error paths.

// snapshot is what a pool holds: each allocated ID with its holder (0 on
// a pool without owners).
func snapshot(t *testing.T, p *Pool) map[uint64]int {
	t.Helper()
	base, capacity, err := p.Range()
	if err != nil {
		t.Fatal(err)
	}
	m := map[uint64]int{}
	for i := base; i < base+capacity; i++ {
		id, err := p.Next(i)
		if errors.Is(err, ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pid, err := p.Owner(id)
		if err != nil && !errors.Is(err, ErrNotSupported) {
			t.Fatal(err)
		}
		m[id] = pid
		i = id
	}
	return m
}

// startSleeper starts a child that lives until the test ends.
func startSleeper(t *testing.T) *os.Process {
	t.Helper()
	c, err := os.StartProcess("/bin/sleep", []string{"sleep", "600"}, &os.ProcAttr{})
	if err != nil {
		t.Skip("cannot start /bin/sleep:", err)
	}
	t.Cleanup(func() { c.Kill(); c.Wait() })
	return c
}

func TestRange(t *testing.T) {
	p := mustOpen(t, poolName(t), Options{Capacity: 1000, Base: 40000, Flags: Create})
	base, capacity, err := p.Range()
	if err != nil || base != 40000 || capacity != 1000 {
		t.Fatalf("Range = %d, %d, %v; want 40000, 1000", base, capacity, err)
	}
	p.Alloc() // the range does not depend on what is allocated
	if b, c, _ := p.Range(); b != base || c != capacity {
		t.Fatalf("Range after Alloc = %d, %d", b, c)
	}
	priv := mustOpen(t, "", Options{Capacity: 7})
	if b, c, err := priv.Range(); err != nil || b != 0 || c != 7 {
		t.Fatalf("private Range = %d, %d, %v", b, c, err)
	}
	priv.Close()
	if _, _, err := priv.Range(); err != ErrClosed {
		t.Fatalf("Range after Close: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	name := poolName(t)
	w := mustOpen(t, name, Options{Capacity: 64, Base: 10, Flags: Create | Owners})
	for _, id := range []uint64{10, 11, 20} {
		if err := w.AllocID(id); err != nil {
			t.Fatal(err)
		}
	}
	r := mustOpen(t, name, Options{Flags: ReadOnly})
	before := snapshot(t, w)

	// The looks work.
	if ok, err := r.Test(11); err != nil || !ok {
		t.Fatalf("read-only Test = %v, %v", ok, err)
	}
	if id, err := r.Next(12); err != nil || id != 20 {
		t.Fatalf("read-only Next = %d, %v", id, err)
	}
	if st, err := r.Stat(); err != nil || st.Used != 3 || st.Capacity != 64 {
		t.Fatalf("read-only Stat = %+v, %v", st, err)
	}
	if b, c, err := r.Range(); err != nil || b != 10 || c != 64 {
		t.Fatalf("read-only Range = %d, %d, %v", b, c, err)
	}
	if pid, err := r.Owner(20); err != nil || pid != os.Getpid() {
		t.Fatalf("read-only Owner = %d, %v", pid, err)
	}

	// Every writer returns ErrReadOnly (and EROFS) and changes nothing.
	sleeper := startSleeper(t)
	check := func(what string, err error) {
		t.Helper()
		wantErr(t, what, err, ErrReadOnly)
		wantErr(t, what+" (errno)", err, syscall.EROFS)
		var e *Error
		if !errors.As(err, &e) || e.Errno != syscall.EROFS {
			t.Fatalf("%s: %#v is not an *Error with EROFS", what, err)
		}
		for _, s := range []error{ErrInvalid, ErrNotExist, ErrNotSupported, ErrClosed} {
			if errors.Is(err, s) {
				t.Fatalf("%s: EROFS matches %v", what, s)
			}
		}
	}
	_, err := r.Alloc()
	check("Alloc", err)
	_, err = r.AllocIn(30, 40)
	check("AllocIn", err)
	check("AllocID", r.AllocID(30))
	_, err = r.AllocBlock(4, 4)
	check("AllocBlock", err)
	check("Free", r.Free(11))
	check("FreeBlock", r.FreeBlock(10, 2))
	check("SetOwner", r.SetOwner(sleeper.Pid))
	check("Chown", r.Chown(20, sleeper.Pid))
	_, err = r.Reclaim()
	check("Reclaim", err)
	_, err = r.FreeOwner(os.Getpid())
	check("FreeOwner", err)
	got, err := r.ReclaimIDs()
	check("ReclaimIDs", err)
	if len(got) != 0 {
		t.Fatalf("read-only ReclaimIDs returned %v", got)
	}
	if after := snapshot(t, w); !reflect.DeepEqual(before, after) {
		t.Fatalf("the read-only handle changed the pool: %v -> %v", before, after)
	}
	if err == nil || err.Error() == "" {
		t.Fatal("no message")
	}

	// The writer's changes show through the read-only handle.
	if err := w.Free(11); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Test(11); ok {
		t.Fatal("the read-only handle does not see a free")
	}

	// ReadOnly opens what exists, and nothing else.
	_, err = Open(name, Options{Flags: ReadOnly | Create})
	wantErr(t, "ReadOnly|Create", err, ErrInvalid)
	_, err = Open(name, Options{Flags: ReadOnly | Excl})
	wantErr(t, "ReadOnly|Excl", err, ErrInvalid)
	_, err = Open("", Options{Capacity: 10, Flags: ReadOnly})
	wantErr(t, "ReadOnly private", err, ErrInvalid)
	_, err = Open(poolName(t), Options{Flags: ReadOnly})
	wantErr(t, "ReadOnly missing", err, ErrNotExist)
	_, err = OpenPages(name, PagesOptions{Flags: ReadOnly})
	wantErr(t, "ReadOnly pages", err, ErrInvalid)
	_, err = OpenBuffer(name, BufferOptions{Flags: ReadOnly})
	wantErr(t, "ReadOnly buffer", err, ErrInvalid)
}

func TestChown(t *testing.T) {
	p := mustOpen(t, poolName(t), Options{Capacity: 32, Base: 100, Flags: Create | Owners})
	id, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	server := startSleeper(t)
	if err := p.Chown(id, server.Pid); err != nil {
		t.Fatalf("Chown: %v", err)
	}
	if pid, err := p.Owner(id); err != nil || pid != server.Pid {
		t.Fatalf("Owner after Chown = %d, %v; want %d", pid, err, server.Pid)
	}
	if n, err := p.Reclaim(); err != nil || n != 0 {
		t.Fatalf("Reclaim with the new holder alive = %d, %v", n, err)
	}

	// A dead pid: a child started, killed and waited for.
	dead, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skip("cannot start /bin/true:", err)
	}
	dead.Wait()
	before := snapshot(t, p)
	wantErr(t, "Chown to a dead pid", p.Chown(id, dead.Pid), ErrNoProcess)
	wantErr(t, "Chown of a free ID", p.Chown(id+1, server.Pid), ErrNotExist)
	wantErr(t, "Chown to pid 0", p.Chown(id, 0), ErrInvalid)
	wantErr(t, "Chown to pid -1", p.Chown(id, -1), ErrInvalid)
	wantErr(t, "Chown outside the pool", p.Chown(99, server.Pid), ErrInvalid)
	wantErr(t, "Chown past the pool", p.Chown(132, server.Pid), ErrInvalid)
	if after := snapshot(t, p); !reflect.DeepEqual(before, after) {
		t.Fatalf("a failed Chown changed the pool: %v -> %v", before, after)
	}

	// The hand-on outlives this process's interest: killing the new holder
	// makes the ID reclaimable.
	server.Kill()
	server.Wait()
	got, err := p.ReclaimIDs()
	if err != nil || !reflect.DeepEqual(got, []Reclaimed{{ID: id, Holder: server.Pid}}) {
		t.Fatalf("ReclaimIDs after the holder died = %v, %v", got, err)
	}

	plain := mustOpen(t, "", Options{Capacity: 4})
	pid, _ := plain.Alloc()
	wantErr(t, "Chown without Owners", plain.Chown(pid, os.Getpid()), ErrNotSupported)
	plain.Close()
	wantErr(t, "Chown after Close", plain.Chown(0, os.Getpid()), ErrClosed)
}

// The children of these tests (TestMain runs them): role -> function of
// the last two arguments.
var accessRoles = map[string]func([]string) int{
	"hold":   holdChild,
	"reader": readerChild,
}

// holdChild: ARGS = pool name, count. It allocates count IDs, prints each,
// then "ready", and waits for its stdin to close (or to be killed).
func holdChild(args []string) int {
	n, _ := strconv.Atoi(args[1])
	p, err := Open(args[0], Options{})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	for i := 0; i < n; i++ {
		id, err := p.Alloc()
		if err != nil {
			fmt.Println("alloc:", err)
			return 1
		}
		fmt.Println(id)
	}
	fmt.Println("ready")
	os.Stdin.Read(make([]byte, 1))
	return 0
}

func TestReclaimIDs(t *testing.T) {
	name := poolName(t)
	p := mustOpen(t, name, Options{Capacity: 64, Base: 500, Flags: Create | Owners})
	// This process holds 500..529; every third one is freed for the child.
	for i := 0; i < 30; i++ {
		if _, err := p.Alloc(); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint64(500); id < 530; id += 3 {
		p.Free(id)
	}
	// A live holder: a sleeper handed two IDs.
	sleeper := startSleeper(t)
	for _, id := range []uint64{501, 502} {
		if err := p.Chown(id, sleeper.Pid); err != nil {
			t.Fatal(err)
		}
	}
	// The holder that dies: a child process that allocates 12 IDs itself
	// (the 10 freed, then 530 and 531), is killed with SIGKILL.
	c := exec.Command(os.Args[0], "-test.run=^$", name, "12")
	c.Env = append(os.Environ(), "NUMBALLOC_GO_CHILD=hold")
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var childIDs []Reclaimed
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
		id, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			c.Process.Kill()
			c.Wait()
			t.Fatalf("child: %s", sc.Text())
		}
		childIDs = append(childIDs, Reclaimed{ID: id, Holder: c.Process.Pid})
	}
	if len(childIDs) != 12 {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("the child allocated %d IDs, not 12", len(childIDs))
	}
	if got, err := p.ReclaimIDs(); err != nil || len(got) != 0 {
		t.Fatalf("ReclaimIDs with every holder alive = %v, %v", got, err)
	}
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	survivors := snapshot(t, p)
	for _, r := range childIDs {
		delete(survivors, r.ID)
	}

	// Batches of 5: the loop must turn three times.
	defer func(b int) { reclaimBatch = b }(reclaimBatch)
	reclaimBatch = 5
	got, err := p.ReclaimIDs()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	if !reflect.DeepEqual(got, childIDs) {
		t.Fatalf("ReclaimIDs = %v; want exactly the killed child's %v", got, childIDs)
	}
	if now := snapshot(t, p); !reflect.DeepEqual(now, survivors) {
		t.Fatalf("after ReclaimIDs the pool holds %v; want %v", now, survivors)
	}
	if got, err := p.ReclaimIDs(); err != nil || len(got) != 0 {
		t.Fatalf("a second ReclaimIDs = %v, %v", got, err)
	}

	plain := mustOpen(t, "", Options{Capacity: 4})
	_, err = plain.ReclaimIDs()
	wantErr(t, "ReclaimIDs without Owners", err, ErrNotSupported)
	plain.Close()
	if _, err := plain.ReclaimIDs(); err != ErrClosed {
		t.Fatalf("ReclaimIDs after Close: %v", err)
	}
}

const nobody = 65534

// readerChild: ARGS = a 0644 pool, a 0600 pool; run as nobody. It prints
// what each open and call gave.
func readerChild(args []string) int {
	errno := func(err error) string {
		var e *Error
		if errors.As(err, &e) {
			return e.Errno.Error()
		}
		return fmt.Sprint(err)
	}
	if _, err := Open(args[0], Options{}); err != nil {
		fmt.Println("rw:", errno(err))
	} else {
		fmt.Println("rw: opened")
	}
	r, err := Open(args[0], Options{Flags: ReadOnly})
	if err != nil {
		fmt.Println("ro:", errno(err))
		return 1
	}
	b, c, err := r.Range()
	t3, _ := r.Test(3)
	t4, _ := r.Test(4)
	fmt.Println("looks:", b, c, err, t3, t4)
	_, err = r.Alloc()
	fmt.Println("alloc:", errors.Is(err, ErrReadOnly), errno(err))
	if _, err := Open(args[1], Options{Flags: ReadOnly}); err != nil {
		fmt.Println("private:", errno(err))
	} else {
		fmt.Println("private: opened")
	}
	return 0
}

// What ReadOnly is for: a user who may read the pool (mode 0644) but not
// write it opens it read-only, and cannot open a 0600 pool at all.
func TestReadOnlyAsAReader(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as nobody")
	}
	// The test binary where nobody may run it (go test builds it in a
	// directory of mode 0700).
	dir, err := os.MkdirTemp("", "nbgo-reader-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := dir + "/numballoc.test"
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		c := exec.Command(exe, append([]string{"-test.run=^$"}, args...)...)
		c.Env = append(os.Environ(), "NUMBALLOC_GO_CHILD=reader")
		c.Dir = dir
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run("", ""); strings.Contains(out, "error while loading") || errors.Is(err, fs.ErrPermission) {
		t.Skip("nobody cannot run the test binary with its library here:", strings.TrimSpace(out), err)
	}
	name, private := poolName(t), poolName(t)
	w := mustOpen(t, name, Options{Capacity: 10, Base: 1, Flags: Create, Mode: 0o644})
	mustOpen(t, private, Options{Capacity: 10, Flags: Create, Mode: 0o600})
	w.AllocID(3)
	w.AllocID(7)
	before := snapshot(t, w)
	out, err := run(name, private)
	if err != nil {
		t.Fatalf("reader: %v: %s", err, out)
	}
	want := "rw: permission denied\n" +
		"looks: 1 10 <nil> true false\n" +
		"alloc: true read-only file system\n" +
		"private: permission denied\n"
	if out != want {
		t.Fatalf("the reader got\n%swant\n%s", out, want)
	}
	if after := snapshot(t, w); !reflect.DeepEqual(before, after) {
		t.Fatalf("the reader changed the pool: %v -> %v", before, after)
	}
}
