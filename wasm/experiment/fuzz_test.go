package experiment

import (
	"bytes"
	"reflect"
	"testing"
)

// The fuzz targets' seed corpus is testdata/fuzz/<target>: canonical and
// sparse experiments, share-page bodies, fragments of each, and malformed
// ones. `make fuzz-smoke` runs each target for a few seconds.

// FuzzUnmarshal: any JSON body (POST /api/runs, /api/shares, a share the
// store gives back) decodes without a panic, validates without one, and an
// experiment that decodes has one canonical form: Canonical decodes to the
// same experiment, and its fragment decodes to it too.
func FuzzUnmarshal(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			return
		}
		valid := e.Validate() == nil
		checkCanonical(t, e)
		if again := e.Normalize().Validate() == nil; again != valid {
			t.Fatalf("Validate %v, after Normalize %v", valid, again)
		}
	})
}

// FuzzDecodeFragment: any #x= fragment (a link anyone may write) decodes
// without a panic, to a normalized experiment with one canonical form.
func FuzzDecodeFragment(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		e, err := DecodeFragment(s)
		if err != nil {
			return
		}
		if !reflect.DeepEqual(e, e.Normalize()) {
			t.Fatalf("DecodeFragment gave %+v, not normalized", e)
		}
		e.Validate()
		checkCanonical(t, e)
	})
}

// checkCanonical checks that e's canonical form is a fixed point: it
// decodes (strictly) to an experiment with the same canonical form, share
// id and normalized value, and so does e's fragment.
func checkCanonical(t *testing.T, e Experiment) {
	t.Helper()
	c := e.Canonical()
	back, err := Unmarshal(c)
	if err != nil {
		t.Fatalf("canonical form %s does not decode: %v", c, err)
	}
	if c2 := back.Canonical(); !bytes.Equal(c2, c) {
		t.Fatalf("canonical form is not a fixed point:\n%s\n%s", c, c2)
	}
	if back.ShareID() != e.ShareID() || !IsShareID(e.ShareID()) {
		t.Fatalf("share id %q, after a round trip %q", e.ShareID(), back.ShareID())
	}
	if n := back.Normalize(); !reflect.DeepEqual(n, n.Normalize()) {
		t.Fatalf("Normalize is not idempotent on %+v", n)
	}
	frag, err := DecodeFragment(e.EncodeFragment())
	if err != nil {
		t.Fatalf("the fragment of %s does not decode: %v", c, err)
	}
	if !bytes.Equal(frag.Canonical(), c) {
		t.Fatalf("fragment round trip:\n%s\n%s", c, frag.Canonical())
	}
}
