package store

// Test-only conveniences over the encoders the store uses in place.

// encodeMessage checks m and returns its version 2 encoding (see
// [appendMessage]) in a slice of its own.
func encodeMessage(m Message) ([]byte, error) {
	if err := checkMessage(m); err != nil {
		return nil, err
	}
	return appendMessage(make([]byte, 0, encodedMessageLen(m)), m)
}

// ad is [appendAD] into a fresh slice.
func ad(bucket, key []byte) []byte {
	return appendAD(make([]byte, 0, len(sealLabel)+3+len(bucket)+len(key)), bucket, key)
}

// mustOutboxPointer is [encodeOutboxPointer] for the short peer IDs of the
// tests, which always encode.
func mustOutboxPointer(peerID string, id [MessageIDLen]byte) []byte {
	b, err := encodeOutboxPointer(peerID, id)
	if err != nil {
		panic(err)
	}
	return b
}
