// Checks the histories that benches/linearizability.rs exported (BENCH_EXPORT)
// with Porcupine, timing each the way the Rust side times bach: one untimed
// check, then checks until both MIN_RUNS runs and MIN_TIME have passed (at
// most MAX_RUNS), and the median. Prints one line per history:
//
//	<name> <median nanoseconds> <verdict> <runs>
//
// Usage: go run . <directory of *.json histories>
//
// A history file holds {"model": "register" | "kv", "operations": [...]},
// each operation {"client", "call", "ret" (null: never returned), "op"
// ("read", "write", "cas", "get", "put"), "key", "value", "expected" (null:
// absent, for a kv cas), "out" (the value read; null: absent), "ok" (a
// cas's result)}. Registers start at 0, kv keys absent. Porcupine has no
// operations that never returned: as its own tests do, such an operation
// gets an output that any step accepts and a return time after every other
// event, where placing it is the same as leaving it out.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	minRuns = 5
	maxRuns = 100
	minTime = time.Second
	timeout = 60 * time.Second
)

type recorded struct {
	Client   int     `json:"client"`
	Call     int64   `json:"call"`
	Ret      *int64  `json:"ret"`
	Op       string  `json:"op"`
	Key      uint64  `json:"key"`
	Value    uint64  `json:"value"`
	Expected *uint64 `json:"expected"`
	Out      *uint64 `json:"out"`
	Ok       bool    `json:"ok"`
}

type file struct {
	Model      string     `json:"model"`
	Operations []recorded `json:"operations"`
}

// input is what was called.
type input struct {
	op       string
	key      uint64
	value    uint64
	expected int64 // -1: absent
}

// output is what came back; unknown for a call that never returned.
type output struct {
	unknown bool
	out     int64 // -1: absent
	ok      bool
}

const absent = int64(-1)

func optional(v *uint64) int64 {
	if v == nil {
		return absent
	}
	return int64(*v)
}

// step applies in to a register or one key's value (-1: absent).
func step(state interface{}, in interface{}, out interface{}) (bool, interface{}) {
	s := state.(int64)
	i := in.(input)
	o := out.(output)
	switch i.op {
	case "read", "get":
		return o.unknown || o.out == s, s
	case "write", "put":
		return true, int64(i.value)
	case "cas":
		swapped := s == i.expected
		if !o.unknown && o.ok != swapped {
			return false, s
		}
		if swapped {
			return true, int64(i.value)
		}
		return true, s
	}
	panic("unknown operation " + i.op)
}

func byKey(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[uint64]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		key := op.Input.(input).key
		at, ok := index[key]
		if !ok {
			at = len(parts)
			index[key] = at
			parts = append(parts, nil)
		}
		parts[at] = append(parts[at], op)
	}
	return parts
}

func model(kind string) porcupine.Model {
	m := porcupine.Model{
		Init: func() interface{} { return int64(0) },
		Step: step,
	}
	if kind == "kv" {
		m.Init = func() interface{} { return absent }
		m.Partition = byKey
	}
	return m
}

func load(path string) (string, []porcupine.Operation) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		os.Exit(1)
	}
	history := make([]porcupine.Operation, 0, len(f.Operations))
	for _, r := range f.Operations {
		in := input{op: r.Op, key: r.Key, value: r.Value, expected: int64(0)}
		if r.Op == "cas" {
			in.expected = optional(r.Expected)
		}
		out := output{unknown: r.Ret == nil, out: optional(r.Out), ok: r.Ok}
		ret := int64(math.MaxInt64)
		if r.Ret != nil {
			ret = *r.Ret
		}
		history = append(history, porcupine.Operation{
			ClientId: r.Client, Input: in, Call: r.Call, Output: out, Return: ret,
		})
	}
	return f.Model, history
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run . <directory of *.json histories>")
		os.Exit(2)
	}
	paths, _ := filepath.Glob(filepath.Join(os.Args[1], "*.json"))
	sort.Strings(paths)
	for _, path := range paths {
		kind, history := load(path)
		m := model(kind)
		check := func() porcupine.CheckResult {
			return porcupine.CheckOperationsTimeout(m, history, timeout)
		}
		verdict := check()
		var times []time.Duration
		started := time.Now()
		for len(times) < maxRuns && (len(times) < minRuns || time.Since(started) < minTime) {
			t := time.Now()
			check()
			times = append(times, time.Since(t))
		}
		sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		fmt.Printf("%s %d %s %d\n", name, times[len(times)/2].Nanoseconds(), describe(verdict), len(times))
	}
}

func describe(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "linearizable"
	case porcupine.Illegal:
		return "not-linearizable"
	}
	return "unknown"
}
