package store

// MarshalContact encodes c in the store's current contact encoding (the
// layout encodeContact documents), for a record that leaves the store: an
// identity backup. It fails with [ErrInvalidContact] as PutContact would.
func MarshalContact(c Contact) ([]byte, error) { return encodeContact(c) }

// UnmarshalContact decodes what [MarshalContact] produced, in this version
// of securechat or an earlier one (contact encodings 1 and 2), strictly.
func UnmarshalContact(b []byte) (Contact, error) {
	if len(b) > 0 && b[0] == contactEncodingV1 {
		return decodeContactV1(b)
	}
	return decodeContact(b)
}
