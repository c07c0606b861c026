package store

// MarshalContact encodes c in the store's current contact encoding (the
// layout encodeContact documents), for a record that leaves the store: an
// identity backup. It fails with [ErrInvalidContact] as PutContact would.
func MarshalContact(c Contact) ([]byte, error) { return encodeContact(c) }

// UnmarshalContact decodes what [MarshalContact] produced, in this version
// of securechat or an earlier one (contact encodings 1, 2 and 3), strictly:
// a backup written before labels existed still imports.
func UnmarshalContact(b []byte) (Contact, error) {
	if len(b) > 0 {
		switch b[0] {
		case contactEncodingV1:
			return decodeContactV1(b)
		case contactEncodingV2:
			return decodeContactV2(b)
		}
	}
	return decodeContact(b)
}
