package p2p

import (
	"bytes"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/securechat/securechat/e2e"
)

// Test identities. An RSA-3072 identity takes about a second to generate,
// so tests never generate one: each node gets one of the identities in
// testdata/identities.pem, chosen by its test and the order in which the
// test starts its nodes (fixtureIdentity), so a test's nodes get the same
// identities whatever runs before or beside it. The file is made once by
//
//	go test ./p2p/ -run '^TestIdentityFixtures$' -gen-identities
//
// The keys in it are public test data: never use them for anything else.

// genIdentities regenerates the fixture file (TestIdentityFixtures).
var genIdentities = flag.Bool("gen-identities", false, "regenerate "+identityFixtureFile+" (slow: about a second per identity)")

const (
	identityFixtureFile = "testdata/identities.pem"
	identityPEMType     = "SECURECHAT TEST IDENTITY"
	// numFixtureIdentities is how many distinct identities one test can
	// have at once; past that they repeat.
	numFixtureIdentities = 16
)

// TestIdentityFixtures regenerates the fixture file with -gen-identities;
// without it, it checks that the file holds numFixtureIdentities distinct
// identities.
func TestIdentityFixtures(t *testing.T) {
	if *genIdentities {
		var buf bytes.Buffer
		for i := range numFixtureIdentities {
			id, err := e2e.GenerateIdentity()
			if err != nil {
				t.Fatal(err)
			}
			hdr := map[string]string{"Fingerprint": id.Fingerprint().String()}
			if err := pem.Encode(&buf, &pem.Block{Type: identityPEMType, Headers: hdr, Bytes: id.Encode()}); err != nil {
				t.Fatal(err)
			}
			t.Logf("identity %d: %s", i, id.Fingerprint())
		}
		if err := os.WriteFile(identityFixtureFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := readFixtureIdentities()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[e2e.Fingerprint]bool{}
	for _, id := range ids {
		seen[id.Fingerprint()] = true
	}
	if len(ids) != numFixtureIdentities || len(seen) != len(ids) {
		t.Fatalf("%s: %d identities, %d distinct; want %d", identityFixtureFile, len(ids), len(seen), numFixtureIdentities)
	}
}

// fixtureIdentities parses the fixture file once; the identities are
// read-only afterwards, so parallel tests share them safely.
var fixtureIdentities = sync.OnceValues(readFixtureIdentities)

func readFixtureIdentities() ([]*e2e.Identity, error) {
	b, err := os.ReadFile(identityFixtureFile)
	if err != nil {
		return nil, fmt.Errorf("read identity fixtures (see fixtures_test.go): %w", err)
	}
	var out []*e2e.Identity
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != identityPEMType {
			return nil, fmt.Errorf("%s: unexpected PEM block %q", identityFixtureFile, blk.Type)
		}
		id, err := e2e.ParseIdentity(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", identityFixtureFile, err)
		}
		if id.Fingerprint().String() != blk.Headers["Fingerprint"] {
			return nil, fmt.Errorf("%s: fingerprint header does not match the key", identityFixtureFile)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, errors.New(identityFixtureFile + ": no identities")
	}
	return out, nil
}

// identityAlloc hands out a top-level test's fixture identities: the
// first node gets the one its test's name hashes to, each further one the
// next unused, so a test's nodes have distinct identities.
type identityAlloc struct {
	mu   sync.Mutex
	next int
	left int
}

// identityAllocs holds one allocator per top-level test that is running.
var identityAllocs sync.Map // root test name -> *identityAlloc

// fixtureIdentity returns the fixture identity for the node called name in
// tb: the same in every run of the test, distinct from the identities of
// the test's other nodes (up to numFixtureIdentities of them).
func fixtureIdentity(tb testing.TB, name string) (*e2e.Identity, error) {
	ids, err := fixtureIdentities()
	if err != nil {
		return nil, err
	}
	root, _, _ := strings.Cut(tb.Name(), "/")
	h := fnv.New32a()
	h.Write([]byte(root))
	fresh := &identityAlloc{next: int(h.Sum32() % uint32(len(ids))), left: len(ids)}
	v, loaded := identityAllocs.LoadOrStore(root, fresh)
	if !loaded {
		// The allocator goes with the test (or subtest) that made it,
		// after that test's nodes closed (cleanups run last first).
		tb.Cleanup(func() { identityAllocs.Delete(root) })
	}
	a := v.(*identityAlloc)
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.next
	a.next = (a.next + 1) % len(ids)
	a.left--
	if a.left == -1 {
		tb.Logf("node %s: more than %d identities in one test; they repeat", name, len(ids))
	}
	return ids[i], nil
}

// mustFixtureIdentity is fixtureIdentity for the test's own goroutine.
func mustFixtureIdentity(tb testing.TB, name string) *e2e.Identity {
	tb.Helper()
	id, err := fixtureIdentity(tb, name)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
