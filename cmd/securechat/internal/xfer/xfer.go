// Package xfer holds what the terminal interfaces share about file
// transfers: sizes, rates and times in human units, the rate meter behind a
// progress bar, the file a long paste is written to before it is offered,
// and the match of a typed file-ID prefix.
//
// The p2p node moves the files; this package only describes them.
package xfer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/securechat/securechat/p2p"
)

// Size is n bytes in binary units: "0 B", "512 B", "1.5 KiB", "12.3 MiB",
// "4.0 GiB". A negative n (an unknown size) is "?".
func Size(n int64) string {
	if n < 0 {
		return "?"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v >= 99.95 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// Rate is a speed in bytes a second, as "3.4 MiB/s".
func Rate(bytesPerSecond float64) string {
	if bytesPerSecond < 0 || math.IsNaN(bytesPerSecond) || math.IsInf(bytesPerSecond, 0) {
		return "?"
	}
	return Size(int64(bytesPerSecond)) + "/s"
}

// Duration is a time left as "0:05", "12:34" or "3:04:05"; above 99 hours
// it is "> 99 h". A negative duration is "?".
func Duration(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	s := int64((d + time.Second/2) / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	switch {
	case h > 99:
		return "> 99 h"
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// Meter measures a transfer's rate from its progress reports: a moving
// average over reports at least [meterStep] apart, so a burst of reports
// in one instant does not swing it. The zero Meter is ready.
type Meter struct {
	at    time.Time // the last sample
	bytes int64     // the bytes at the last sample
	rate  float64   // bytes a second, smoothed; 0 until two samples
}

// meterStep is the shortest interval the meter takes a sample over.
const meterStep = 500 * time.Millisecond

// meterWeight is the weight of a new sample in the moving average.
const meterWeight = 0.3

// Observe records that the transfer stood at bytes at time now.
func (m *Meter) Observe(now time.Time, bytes int64) {
	switch {
	case m.at.IsZero() || bytes < m.bytes:
		// The first report, or a transfer that went back (a resume that
		// re-checks): start again.
		m.at, m.bytes, m.rate = now, bytes, 0
		return
	case now.Sub(m.at) < meterStep:
		return
	}
	r := float64(bytes-m.bytes) / now.Sub(m.at).Seconds()
	if m.rate == 0 {
		m.rate = r
	} else {
		m.rate = meterWeight*r + (1-meterWeight)*m.rate
	}
	m.at, m.bytes = now, bytes
}

// Pause forgets the rate: after a pause (a wait for a connection) the old
// rate says nothing of the next.
func (m *Meter) Pause() { *m = Meter{} }

// BytesPerSecond is the smoothed rate, 0 while unknown.
func (m *Meter) BytesPerSecond() float64 { return m.rate }

// Left is the time the rest of a transfer of size bytes, at bytes now,
// takes at the measured rate; false while the rate is unknown.
func (m *Meter) Left(bytes, size int64) (time.Duration, bool) {
	if m.rate <= 0 || size < bytes {
		return 0, false
	}
	s := float64(size-bytes) / m.rate
	if s > float64(math.MaxInt64/int64(time.Second)) {
		s = float64(math.MaxInt64 / int64(time.Second))
	}
	return time.Duration(s * float64(time.Second)), true
}

// ErrNoMatch and ErrAmbiguous are [Match]'s failures.
var (
	ErrNoMatch   = errors.New("no transfer has that ID")
	ErrAmbiguous = errors.New("several transfers start with that ID; type more of it")
)

// Match finds the one ID among ids that prefix starts (case-insensitive;
// an exact match wins).
func Match(ids []string, prefix string) (string, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	found := ""
	for _, id := range ids {
		l := strings.ToLower(id)
		if l == prefix {
			return id, nil
		}
		if prefix != "" && strings.HasPrefix(l, prefix) {
			if found != "" && found != id {
				return "", ErrAmbiguous
			}
			found = id
		}
	}
	if found == "" {
		return "", ErrNoMatch
	}
	return found, nil
}

// ShortID is the start of a file ID shown on screen and typed back to
// /accept, /reject and /cancel.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// PasteDir is where pastes are written before they are offered: "pastes"
// in the home when there is one, else a private directory made under
// [os.TempDir].
func PasteDir(home string) (string, error) {
	if home != "" {
		dir := filepath.Join(home, "pastes")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		return dir, nil
	}
	return os.MkdirTemp("", "securechat-pastes-")
}

// WritePaste writes text to a new file paste-YYYYMMDD-HHMMSS.txt in dir
// (created 0700 if missing), mode 0600, never over an existing file (a
// "-2", "-3", ... suffix instead), and returns its path. The name is what
// the receiver sees.
func WritePaste(dir string, text []byte, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	base := "paste-" + now.Format("20060102-150405")
	for i := 1; i <= 100; i++ {
		name := base + ".txt"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.txt", base, i)
		}
		path := filepath.Join(dir, name)
		// O_EXCL: never an existing file, nor a link planted in its place.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, werr := f.Write(text)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return "", werr
		}
		return path, nil
	}
	return "", fmt.Errorf("%s: too many pastes this second", filepath.Join(dir, base))
}

// Reason words the reason of a [p2p.FileFailed] for a person; an unknown
// one is shown as it is, cleaned.
func Reason(reason string) string {
	switch reason {
	case p2p.FileReasonRejected:
		return "the receiver declined it"
	case p2p.FileReasonCancelled:
		return "it was cancelled"
	case p2p.FileReasonFailed:
		return "the file could not be read or stored"
	case p2p.FileReasonCorrupt:
		return "the data did not check out (a bad chunk or a wrong SHA-256); nothing was kept"
	case p2p.FileReasonTooLarge:
		return "the file is over the receiver's size limit"
	case p2p.FileReasonNoSpace:
		return "the disk is full"
	case p2p.FileReasonChanged:
		return "the file changed on the sender's disk before it was sent whole"
	case p2p.FileReasonTooMany:
		return "too many offers at once"
	}
	return p2p.SanitizeName(reason)
}
