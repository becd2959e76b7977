package main

import (
	"debug/elf"
	"runtime"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

// TestLinkerDropsUnusedMethods guards the size of the binary. When a call
// of reflect.Value.Method or MethodByName with a name unknown at compile
// time is reachable — text/template's evaluator is one, so html/template
// too — the linker must keep every exported method of every type it keeps:
// all of go-redis's commands, the Azure SDK's and the MongoDB driver's
// methods. That made the stripped binary 42 MB instead of 30 MB (14.6 MB
// gzipped instead of 11.2 MB); see docs/PERFORMANCE.md. The symptom checked
// is a method intake never calls.
func TestLinkerDropsUnusedMethods(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads the ELF symbol table")
	}
	f, err := elf.Open(testenv.IntakeBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	unwanted := map[string]string{
		"text/template.(*state).evalCall":             "text/template's evaluator (html/template, text/template)",
		"github.com/redis/go-redis/v9.cmdable.GeoAdd": "an unused go-redis command",
	}
	for _, s := range syms {
		if why, ok := unwanted[s.Name]; ok {
			t.Errorf("the binary links %s (%s): something reaches reflect.Value.Method or MethodByName with a name unknown at compile time, "+
				"so the linker keeps every exported method; find it with go build -ldflags=-dumpdep ./cmd/intake 2>&1 | grep 'reflect.Value.Method'", s.Name, why)
		}
	}
}
