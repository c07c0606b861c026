package store

import (
	"errors"
	"reflect"
	"testing"
)

func TestPortableContact(t *testing.T) {
	c := sampleContact("peer")
	b, err := MarshalContact(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalContact(b)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// An older securechat's encoding still reads.
	if got, err := UnmarshalContact(encodeContactV1(t, c)); err != nil || got.PeerID != c.PeerID || got.Name != c.Name {
		t.Errorf("v1: %+v, %v", got, err)
	}
	// So does a backup written before labels (encoding 2).
	if got, err := UnmarshalContact(encodeContactV2(t, c)); err != nil || got.PeerID != c.PeerID || got.Name != c.Name {
		t.Errorf("v2: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(b, 0)} {
		if _, err := UnmarshalContact(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
	if _, err := MarshalContact(Contact{}); !errors.Is(err, ErrInvalidContact) {
		t.Errorf("empty contact: %v", err)
	}
}
