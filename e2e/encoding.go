package e2e

// This file holds the small big-endian encoding helpers shared by the wire
// formats. Every parser reads through a [reader] and checks done() once, so a
// short or over-long input is one error, never a panic.

// reader is a strict cursor over a byte slice. After the first short read
// every accessor returns zero values and done reports false, so parsers can
// read a whole structure and check once.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || len(r.b) < n {
		r.bad = true
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() byte {
	p := r.bytes(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16() int {
	p := r.bytes(2)
	if p == nil {
		return 0
	}
	return int(p[0])<<8 | int(p[1])
}

func (r *reader) u32() uint32 {
	p := r.bytes(4)
	if p == nil {
		return 0
	}
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
}

// vec16 reads a uint16 length and that many bytes.
func (r *reader) vec16() []byte { return r.bytes(r.u16()) }

// done reports whether every byte was consumed without a short read.
func (r *reader) done() bool { return !r.bad && len(r.b) == 0 }

func appendVec16(b, v []byte) []byte {
	if len(v) > 0xffff {
		panic("e2e: vector too long")
	}
	b = append(b, byte(len(v)>>8), byte(len(v)))
	return append(b, v...)
}

func appendU16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
