package e2e

// Test-only wrappers of the record primitives, for tests that seal or open
// one record outside a Session and have no scratch buffer of their own.

// sealRecord is sealRecordWith with its own associated-data buffer.
func sealRecord(h *recordHeader, id *[32]byte, dir byte, key *[aeadKeySize]byte, nonce *[aeadNonceSize]byte, pt []byte) []byte {
	var ad [recordADSize]byte
	return sealRecordWith(&ad, h, id, dir, key, nonce, pt)
}

// openRecord is openRecordWith with its own associated-data buffer.
func openRecord(rec, ct []byte, id *[32]byte, dir byte, key *[aeadKeySize]byte, nonce *[aeadNonceSize]byte) ([]byte, bool) {
	var ad [recordADSize]byte
	return openRecordWith(&ad, rec, ct, id, dir, key, nonce)
}
