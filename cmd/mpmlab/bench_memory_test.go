package main

import (
	"strings"
	"testing"

	"github.com/mpmlab/mpmlab/playground/loadgen"
)

// bench's text gives each model's memory per connection, or n/a where it
// held too few, in its line and in the side-by-side table.
func TestBenchMemoryText(t *testing.T) {
	results := []benchResult{
		{Model: "thread", PSSBeforeKB: 32 << 10, PSSKB: 33 << 10, ConnsHeld: 4, PerConnKB: -1},
		{Model: "reactor", PSSBeforeKB: 30 << 10, PSSKB: 230 << 10, ConnsHeld: 10000, PerConnKB: 20.48},
	}
	if got, want := results[0].memoryText(), "Memory: PSS 32.0 MiB before the load, 33.0 MiB holding 4 connections: per connection n/a (fewer than 100 held)"; got != want {
		t.Errorf("thread: %q, want %q", got, want)
	}
	if got, want := results[1].memoryText(), "Memory: PSS 30.0 MiB before the load, 230.0 MiB holding 10000 connections: 20.5 KiB per connection"; got != want {
		t.Errorf("reactor: %q, want %q", got, want)
	}
	var b strings.Builder
	for i := range results {
		results[i].Summary = new(loadgen.Summary)
	}
	if err := writeMemoryTable(&b, results); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	for _, row := range []string{"thread   32.0 MiB    33.0 MiB   4           n/a", "reactor  30.0 MiB    230.0 MiB  10000       20.5 KiB"} {
		if !strings.Contains(table, row) {
			t.Errorf("memory table\n%s\nhas no row %q", table, row)
		}
	}
	b.Reset()
	if err := writeGroupTable(&b, results); err != nil || b.Len() != 0 {
		t.Errorf("a load without groups has a group table: %q (%v)", b.String(), err)
	}
}
