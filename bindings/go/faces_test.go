// SPDX-License-Identifier: MIT

package numballoc

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestPages(t *testing.T) {
	name := poolName(t)
	pa, err := OpenPages(name, PagesOptions{PageSize: 64, NPages: 128, Flags: Create})
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	if pa.PageSize() != 64 {
		t.Fatalf("PageSize = %d", pa.PageSize())
	}
	first, err := pa.Alloc(4, 4)
	if err != nil || first != 0 {
		t.Fatalf("Alloc(4, 4) = %d, %v", first, err)
	}
	one, _ := pa.Alloc(1, 0)
	if second, err := pa.Alloc(2, 8); err != nil || second != 8 {
		t.Fatalf("Alloc(2, 8) = %d, %v", second, err)
	}
	b, err := pa.Bytes(first, 4)
	if err != nil || len(b) != 256 {
		t.Fatalf("Bytes = %d bytes, %v", len(b), err)
	}
	copy(b, "shared pages")
	other, err := OpenPages(name, PagesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := other.Bytes(first, 1)
	if string(ob[:12]) != "shared pages" {
		t.Fatalf("another handle reads %q", ob[:12])
	}
	other.Close()
	st, err := pa.Stat()
	if err != nil || st.Total != 128 || st.Used != 7 || st.Available != 121 || st.PageSize != 64 {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	if _, err := pa.Bytes(127, 2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Bytes past the end: %v", err)
	}
	if _, err := pa.Bytes(0, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Bytes of 0 pages: %v", err)
	}
	if _, err := pa.Alloc(200, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("Alloc too many: %v", err)
	}
	if _, err := pa.Alloc(1, 3); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Alloc align 3: %v", err)
	}
	if err := pa.Free(one, 2); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Free over a free page: %v", err)
	}
	if err := pa.Free(one, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPages("", PagesOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("private pages: %v", err)
	}
	if _, err := OpenPages(poolName(t), PagesOptions{}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("missing arena: %v", err)
	}
	file, err := OpenPages("", PagesOptions{Path: filepath.Join(t.TempDir(), "arena"), NPages: 8, Flags: Create})
	if err != nil {
		t.Fatal(err)
	}
	file.Close()
	pa.Close()
	if err := pa.Close(); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := pa.Alloc(1, 1); err != ErrClosed {
		t.Fatal(err)
	}
	if err := pa.Free(0, 1); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := pa.Stat(); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := pa.Bytes(0, 1); err != ErrClosed {
		t.Fatal(err)
	}
}

func TestBuffer(t *testing.T) {
	b, err := OpenBuffer(poolName(t), BufferOptions{Capacity: 100, Flags: Create, FirstFit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a1, _ := b.Alloc(10)
	a2, _ := b.Alloc(20)
	a3, err := b.Alloc(30)
	if a1 != 0 || a2 != 10 || a3 != 30 || err != nil {
		t.Fatalf("Alloc = %d %d %d, %v", a1, a2, a3, err)
	}
	if s, err := b.Alloc(0); s != 0 || err != nil {
		t.Fatalf("Alloc(0) = %d, %v", s, err)
	}
	if err := b.Dealloc(12, 5); err != nil { // any part of allocated space
		t.Fatal(err)
	}
	r, err := b.Regions()
	want := []Region{{0, 12}, {17, 43}}
	if err != nil || len(r) != 2 || r[0] != want[0] || r[1] != want[1] {
		t.Fatalf("Regions = %v, %v", r, err)
	}
	if s, err := b.Alloc(5); s != 12 || err != nil { // first fit
		t.Fatalf("Alloc(5) = %d, %v", s, err)
	}
	if _, err := b.Alloc(50); !errors.Is(err, ErrFull) {
		t.Fatalf("Alloc(50): %v", err)
	}
	if n, err := b.Needed(50); n != 110 || err != nil {
		t.Fatalf("Needed(50) = %d, %v", n, err)
	}
	if s, err := b.Realloc(30, 30, 40); s != 30 || err != nil { // grows in place
		t.Fatalf("Realloc in place = %d, %v", s, err)
	}
	if _, err := b.Realloc(30, 40, 80); !errors.Is(err, ErrFull) {
		t.Fatalf("Realloc too big: %v", err)
	}
	if _, err := b.Realloc(75, 5, 6); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Realloc of free space: %v", err)
	}
	if err := b.Dealloc(70, 5); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Dealloc of free space: %v", err)
	}
	st, err := b.Stat()
	if err != nil || st.Capacity != 100 || st.FreeSize != 30 || st.LargestFree != 30 || st.Unit != 1 ||
		st.FragmentedFreeSize != 0 || st.Usage != 0.7 {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	if err := b.SetCapacity(200); err != nil {
		t.Fatal(err)
	}
	if err := b.SetCapacity(150); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetCapacity smaller: %v", err)
	}
	if s, err := b.Realloc(30, 40, 150); s != 30 || err != nil {
		t.Fatalf("Realloc after growth = %d, %v", s, err)
	}
	// many regions: more than Regions' first guess
	p, _ := OpenBuffer("", BufferOptions{Capacity: 1000})
	defer p.Close()
	for i := 0; i < 100; i++ {
		p.Alloc(5)
	}
	for i := uint64(0); i < 100; i += 2 {
		p.Dealloc(i*5, 5)
	}
	if r, err := p.Regions(); len(r) != 50 || err != nil || r[49] != (Region{495, 5}) {
		t.Fatalf("Regions: %d, %v", len(r), err)
	}
	if _, err := OpenBuffer("", BufferOptions{Capacity: 10, Unit: 3}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("capacity not a multiple of the unit: %v", err)
	}
	b.Close()
	if err := b.Close(); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := b.Alloc(1); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := b.Needed(1); err != ErrClosed {
		t.Fatal(err)
	}
	if err := b.Dealloc(0, 1); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := b.Realloc(0, 1, 2); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := b.Regions(); err != ErrClosed {
		t.Fatal(err)
	}
	if _, err := b.Stat(); err != ErrClosed {
		t.Fatal(err)
	}
	if err := b.SetCapacity(300); err != ErrClosed {
		t.Fatal(err)
	}
}
