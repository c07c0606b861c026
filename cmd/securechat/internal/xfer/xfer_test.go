package xfer

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

func TestSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{-1, "?"}, {0, "0 B"}, {1, "1 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{64 << 10, "64.0 KiB"}, {100 << 10, "100 KiB"}, {12_900_000, "12.3 MiB"}, {4 << 30, "4.0 GiB"},
		{1<<63 - 1, "8.0 EiB"},
	} {
		if got := Size(tt.n); got != tt.want {
			t.Errorf("Size(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "?"}, {0, "0:00"}, {4600 * time.Millisecond, "0:05"}, {754 * time.Second, "12:34"},
		{3*time.Hour + 4*time.Minute + 5*time.Second, "3:04:05"}, {200 * time.Hour, "> 99 h"},
	} {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestMeter(t *testing.T) {
	var m Meter
	t0 := time.Date(2024, 3, 9, 14, 5, 0, 0, time.UTC)
	if _, ok := m.Left(0, 100); ok {
		t.Error("time left known before any sample")
	}
	m.Observe(t0, 0)
	m.Observe(t0.Add(100*time.Millisecond), 1<<20) // too soon: ignored
	if m.BytesPerSecond() != 0 {
		t.Errorf("rate %v after one sample", m.BytesPerSecond())
	}
	m.Observe(t0.Add(time.Second), 1<<20)
	if got := m.BytesPerSecond(); got != 1<<20 {
		t.Errorf("rate %v, want 1 MiB/s", got)
	}
	if left, ok := m.Left(1<<20, 11<<20); !ok || left != 10*time.Second {
		t.Errorf("left %v %v, want 10s", left, ok)
	}
	m.Observe(t0.Add(2*time.Second), 3<<20) // 2 MiB/s: averaged in
	if got, want := m.BytesPerSecond(), 0.3*(2<<20)+0.7*(1<<20); math.Abs(got-want) > 1 {
		t.Errorf("rate %v, want %v", got, want)
	}
	m.Observe(t0.Add(3*time.Second), 1<<10) // went back: starts again
	if m.BytesPerSecond() != 0 {
		t.Errorf("rate %v after going back", m.BytesPerSecond())
	}
	m.Pause()
	if _, ok := m.Left(0, 1); ok {
		t.Error("time left known after a pause")
	}
	if Rate(1.5*(1<<20)) != "1.5 MiB/s" {
		t.Errorf("Rate = %q", Rate(1.5*(1<<20)))
	}
}

func TestMatch(t *testing.T) {
	ids := []string{"3f2a9c1d00", "3f2b000000", "ABCDEF"}
	for _, tt := range []struct {
		prefix, want string
		err          error
	}{
		{"3f2a", "3f2a9c1d00", nil}, {"3F2B", "3f2b000000", nil}, {"abc", "ABCDEF", nil},
		{"3f2", "", ErrAmbiguous}, {"zz", "", ErrNoMatch}, {"", "", ErrNoMatch},
	} {
		got, err := Match(ids, tt.prefix)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tt.prefix, got, err, tt.want, tt.err)
		}
	}
}

func TestWritePaste(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pastes")
	now := time.Date(2024, 3, 9, 14, 5, 7, 0, time.UTC)
	text := []byte("a long paste\n")
	p1, err := WritePaste(dir, text, now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p1) != "paste-20240309-140507.txt" {
		t.Errorf("first paste at %s", p1)
	}
	p2, err := WritePaste(dir, []byte("second"), now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p2) != "paste-20240309-140507-2.txt" {
		t.Errorf("second paste in the same second at %s", p2)
	}
	got, err := os.ReadFile(p1)
	if err != nil || string(got) != string(text) {
		t.Errorf("first paste holds %q, %v; want it unchanged", got, err)
	}
	if runtime.GOOS != "windows" {
		for _, p := range []string{dir, p1} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s has mode %v, want no access for others", p, perm)
			}
		}
	}
}

func TestPasteDir(t *testing.T) {
	home := t.TempDir()
	dir, err := PasteDir(home)
	if err != nil || dir != filepath.Join(home, "pastes") {
		t.Errorf("PasteDir(home) = %q, %v", dir, err)
	}
	tmp, err := PasteDir("")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("PasteDir(\"\") = %q: %v %v", tmp, fi, err)
	}
}

func TestReason(t *testing.T) {
	if got := Reason(p2p.FileReasonNoSpace); got != "the disk is full" {
		t.Errorf("Reason(no_space) = %q", got)
	}
	if got := Reason("odd\x1b[2J reason"); got != "odd reason" {
		t.Errorf("an unknown reason is shown as %q, want it cleaned", got)
	}
}
