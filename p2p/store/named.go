package store

// Records under a name: the buckets whose layout belongs to the caller
// (mailbox, tickets, files) keep one sealed value per name, under the key
// HMAC(bucket, name), so the file shows neither the name nor the value.

// putNamed stores value sealed under name in bucket, replacing what was
// there, in a transaction of its own (on disk when it returns, for a file
// store).
func (s *sealedStore) putNamed(bucket []byte, name string, value []byte) error {
	return s.update(func(tx sealedTx) error {
		return tx.putSealed(bucket, s.s.recordKey(bucket, name), value)
	})
}

// deleteNamed removes the record under name in bucket; an absent one is
// not an error.
func (s *sealedStore) deleteNamed(bucket []byte, name string) error {
	return s.update(func(tx sealedTx) error {
		return tx.delete(bucket, s.s.recordKey(bucket, name))
	})
}
