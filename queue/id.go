package queue

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// crockford is the base32 alphabet of ULIDs: no I, L, O or U, so IDs read aloud unambiguously.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idRandomBytes is the number of random bytes (80 bits) in an ID.
const idRandomBytes = 10

// NewID returns a new job ID: 26 characters, sortable by creation time (to the millisecond) and
// unique (80 random bits), in the ULID format.
func NewID() string {
	var r [idRandomBytes]byte
	_, _ = rand.Read(r[:])
	return newULID(time.Now(), r[:])
}

// idSource makes the IDs of many jobs, as NewID does, with the random bits of up to batch
// IDs read in one call of crypto/rand (a system call) instead of one per ID.
type idSource struct {
	batch  int
	random []byte // the bits left for the next IDs
}

// next returns a new ID made at now.
func (s *idSource) next(now time.Time) string {
	if len(s.random) < idRandomBytes {
		s.random = make([]byte, idRandomBytes*max(s.batch, 1))
		_, _ = rand.Read(s.random)
	}
	id := newULID(now, s.random[:idRandomBytes])
	s.random = s.random[idRandomBytes:]
	return id
}

// newULID returns the ULID of time t (to the millisecond) and the 10 random bytes r.
func newULID(t time.Time, r []byte) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	copy(b[6:], r)
	return encodeULID(b)
}

func encodeULID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	// 128 bits as 26 base32 digits: the first digit holds the top 3 bits.
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
