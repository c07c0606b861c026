package store

import (
	"errors"
	"fmt"
)

// bucketFiles holds the file transfers in progress (p2p's filestore.go),
// so that offers and progress survive a restart: record key HMAC(files,
// transfer name), where the name (p2p's choice) holds the peer ID and file
// ID, so the file reveals neither; value a sealed record whose layout is
// p2p's ("files record v1"), opaque here. New in schema 7 (schema.go).
var bucketFiles = []byte("files")

// maxFileRecord bounds one transfer record: an offer (at most 345 bytes),
// two paths and a hash state fit many times over.
const maxFileRecord = 16 << 10

// A FileStore keeps the records of file transfers in progress. The store
// [Open] and [OpenMemory] return implements it.
type FileStore interface {
	// PutTransfer stores rec under name, replacing any record there.
	PutTransfer(name string, rec []byte) error
	// DeleteTransfer removes the record under name; an absent one is not
	// an error.
	DeleteTransfer(name string) error
	// Transfers returns every transfer record. If some fail to open, the
	// error matches [ErrCorrupt] and the slice holds the others.
	Transfers() ([][]byte, error)
}

// PutTransfer implements [FileStore].
func (s *sealedStore) PutTransfer(name string, rec []byte) error {
	if len(rec) > maxFileRecord {
		return errors.New("store: transfer record too large")
	}
	if err := s.putNamed(bucketFiles, name, rec); err != nil {
		return fmt.Errorf("save transfer: %w", err)
	}
	return nil
}

// DeleteTransfer implements [FileStore].
func (s *sealedStore) DeleteTransfer(name string) error {
	if err := s.deleteNamed(bucketFiles, name); err != nil {
		return fmt.Errorf("delete transfer: %w", err)
	}
	return nil
}

// Transfers implements [FileStore].
func (s *sealedStore) Transfers() ([][]byte, error) {
	var out [][]byte
	var bad error
	err := s.view(func(tx sealedTx) error {
		return tx.forEach(bucketFiles, func(k, v []byte) error {
			pt, err := tx.s.open(bucketFiles, k, v)
			if err != nil {
				bad = ErrCorrupt
				return nil
			}
			out = append(out, append([]byte(nil), pt...))
			return nil
		})
	})
	if err != nil {
		return out, fmt.Errorf("read transfers: %w", err)
	}
	return out, bad
}
