package record

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var r Recorder
	r.Add("phase", []byte(`{"model":"reactor","state":"starting"}`), 0)
	r.Add("trace", []byte(`{"events":[{"t":1,"kind":"req_start"}],"dropped":0}`), 100)
	r.Add("stats", []byte(`{"model":"reactor","rps":12}`), 250)
	r.Add("bogus", []byte(`not json`), 300)
	rec := r.Recording(Machine{Cores: 2, OS: "linux", Arch: "amd64"})
	blob, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) || len(got.Messages) != 3 {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, rec)
	}
	if s := got.Machine.String(); s != "2 cores, linux/amd64" {
		t.Errorf("machine %q", s)
	}
}

// A recording too large to encode loses trace messages, never the others.
func TestBounded(t *testing.T) {
	var r Recorder
	rng := rand.New(rand.NewSource(1))
	noise := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.Intn(36)]
		}
		return string(b)
	}
	stats := 0
	for i := range 400 {
		r.Add("trace", []byte(fmt.Sprintf(`{"events":[],"x":%q}`, noise(40<<10))), float64(i*100))
		if i%3 == 0 {
			r.Add("stats", []byte(fmt.Sprintf(`{"t_ms":%d}`, i*100)), float64(i*100))
			stats++
		}
	}
	blob, err := r.Recording(Machine{Cores: 1}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) > MaxEncoded {
		t.Fatalf("encoded %d bytes, over %d", len(blob), MaxEncoded)
	}
	rec, err := Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, m := range rec.Messages {
		n[m.Event]++
	}
	if n["stats"] != stats || n["trace"] == 0 || n["trace"]+rec.DroppedTraces != 400 {
		t.Fatalf("kept %v, dropped %d traces; want all %d stats and 400 traces kept or counted", n, rec.DroppedTraces, stats)
	}
	var big Recorder
	for range (MaxRaw >> 20) + 4 {
		big.Add("trace", []byte(`"`+strings.Repeat("x", 1<<20)+`"`), 0)
	}
	big.Add("summary", []byte(`{}`), 1)
	if got := big.Recording(Machine{}); got.DroppedTraces == 0 || got.Messages[len(got.Messages)-1].Event != "summary" {
		t.Fatalf("past MaxRaw: dropped %d, last %s", got.DroppedTraces, got.Messages[len(got.Messages)-1].Event)
	}
	if _, err := Decode([]byte("garbage")); err == nil {
		t.Fatal("garbage decoded")
	}
}
