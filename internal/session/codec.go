package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// codec is scs's Codec for rp's sessions: a small binary format for the
// three value types rp stores (string, []byte, int64). scs decodes the
// session on every request, and its GobCodec compiles gob's type
// information anew each time: on the path every proxied request takes,
// that was the largest cost after the store's own round trip. Sessions
// written by an earlier rp with GobCodec still decode, so an upgrade signs
// no one out.
type codec struct{ legacy scs.GobCodec }

// codecMagic starts every session this codec writes. A gob stream never
// starts with a zero byte (it would be a message of length zero).
var codecMagic = []byte{0x00, 'r', 'p', 0x01}

const (
	tagString = 's'
	tagBytes  = 'b'
	tagInt64  = 'i'
)

var errCorrupt = errors.New("session: stored session data is corrupt")

// Encode writes the deadline and values; it refuses value types other than
// string, []byte and int64.
func (c codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	size := len(codecMagic) + 2*binary.MaxVarintLen64
	for k, v := range values {
		size += len(k) + 1 + 2*binary.MaxVarintLen64
		switch v := v.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, codecMagic...)
	b = binary.AppendVarint(b, deadline.UnixMicro())
	b = binary.AppendUvarint(b, uint64(len(values)))
	for k, v := range values {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		switch v := v.(type) {
		case string:
			b = append(b, tagString)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case []byte:
			b = append(b, tagBytes)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case int64:
			b = append(b, tagInt64)
			b = binary.AppendVarint(b, v)
		default:
			return nil, fmt.Errorf("session: cannot store a value of type %T under %q", v, k)
		}
	}
	return b, nil
}

// Decode reads what Encode wrote, or a gob-encoded session of an earlier rp.
func (c codec) Decode(b []byte) (time.Time, map[string]any, error) {
	if !bytes.HasPrefix(b, codecMagic) {
		return c.legacy.Decode(b)
	}
	r := reader{b: b[len(codecMagic):]}
	deadline := time.UnixMicro(r.varint())
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each value takes at least one byte
		return time.Time{}, nil, errCorrupt
	}
	values := make(map[string]any, n)
	for range n {
		k := string(r.bytes())
		switch r.byte() {
		case tagString:
			values[k] = string(r.bytes())
		case tagBytes:
			values[k] = r.bytes()
		case tagInt64:
			values[k] = r.varint()
		default:
			r.err = errCorrupt
		}
		if r.err != nil {
			return time.Time{}, nil, r.err
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return time.Time{}, nil, errCorrupt
	}
	return deadline, values, nil
}

// reader consumes b; the first failure sticks in err.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// bytes returns a length-prefixed slice of the input, without copying: the
// store hands scs a fresh buffer for every find.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) fail() {
	r.err = errCorrupt
	r.b = nil
}
