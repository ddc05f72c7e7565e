// Command pushv1 profiles itself with runtime/pprof and pushes the
// profiles to Ember the way Grafana Alloy's pyroscope.write and the current
// Pyroscope SDKs do: one Connect call, POST /push.v1.PusherService/Push,
// whose PushRequest holds series of labels and raw pprof profiles.
//
// Standard library only (GO111MODULE=off go run main.go -server ...): the
// PushRequest is encoded by hand, field by field, after Ember's
// src/proto/push.proto (the published push.v1 schema), as
// application/proto; -json-app pushes the same profiles once more as
// application/json, protobuf's canonical JSON mapping of the same message.
//
// It burns CPU in two functions: cpuHeavy, run inside pprof.Do with the
// label vehicle=car, does twice the work of cpuLight, so it gets about two
// thirds of the CPU samples however busy the machine is. Meanwhile it
// allocates, so the heap profile has something to show.
//
//	-server   Ember's address, e.g. http://127.0.0.1:4040
//	-app      the service_name of every series
//	-tags     more labels, "k=v,k2=v2"
//	-seconds  how much CPU time to burn
//	-json-app also push the profiles as JSON, under this service_name
//	-save     a directory to also write the profiles and the request to
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

var sink uint64

// spin does n steps of work: about 3 ms per million on current machines.
//
//go:noinline
func spin(n int) {
	x := sink
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func cpuHeavy(n int) { spin(2 * n) }

//go:noinline
func cpuLight(n int) { spin(n) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var keep [][]byte

//go:noinline
func allocate(i int) {
	b := make([]byte, 64<<10)
	if i%4 == 0 {
		keep = append(keep, b)
	}
}

func work(ctx context.Context, start, cpu time.Duration, deadline time.Time) {
	car := pprof.Labels("vehicle", "car")
	// Units of random length: a fixed 27 ms cycle can phase-lock with the
	// 10 ms sampling clock and give one function far more than its share.
	rng := rand.New(rand.NewSource(1))
	for i := 0; cpuTime()-start < cpu && time.Now().Before(deadline); i++ {
		n := 1000000 + rng.Intn(4000000)
		pprof.Do(ctx, car, func(context.Context) { cpuHeavy(n) })
		cpuLight(n)
		allocate(i)
	}
}

func heapProfile() []byte {
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		fail("heap profile: %v", err)
	}
	return buf.Bytes()
}

// ---- The PushRequest, by hand ------------------------------------------------

// A series as push.proto has it: labels and raw pprof profiles.
type series struct {
	labels   [][2]string
	profiles [][]byte
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendField appends a length-delimited field (wire type 2).
func appendField(b []byte, field int, p []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|2)
	b = appendVarint(b, uint64(len(p)))
	return append(b, p...)
}

// encode is PushRequest{series = 1} of RawProfileSeries{labels = 1 (a
// types.v1.LabelPair{name = 1, value = 2}), samples = 2 (a
// RawSample{raw_profile = 1})}.
func encode(all []series) []byte {
	var req []byte
	for _, s := range all {
		var msg []byte
		for _, l := range s.labels {
			var pair []byte
			pair = appendField(pair, 1, []byte(l[0]))
			pair = appendField(pair, 2, []byte(l[1]))
			msg = appendField(msg, 1, pair)
		}
		for _, p := range s.profiles {
			msg = appendField(msg, 2, appendField(nil, 1, p))
		}
		req = appendField(req, 1, msg)
	}
	return req
}

// encodeJSON is the same message in protobuf's canonical JSON mapping:
// lowerCamelCase names, bytes as base64 (encoding/json's []byte).
func encodeJSON(all []series) []byte {
	type pair struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type sample struct {
		RawProfile []byte `json:"rawProfile"`
	}
	type jseries struct {
		Labels  []pair   `json:"labels"`
		Samples []sample `json:"samples"`
	}
	var out struct {
		Series []jseries `json:"series"`
	}
	for _, s := range all {
		var js jseries
		for _, l := range s.labels {
			js.Labels = append(js.Labels, pair{l[0], l[1]})
		}
		for _, p := range s.profiles {
			js.Samples = append(js.Samples, sample{p})
		}
		out.Series = append(out.Series, js)
	}
	b, err := json.Marshal(out)
	if err != nil {
		fail("json: %v", err)
	}
	return b
}

func push(server, contentType string, body []byte) {
	req, err := http.NewRequest("POST", server+"/push.v1.PusherService/Push",
		bytes.NewReader(body))
	if err != nil {
		fail("request: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Connect-Protocol-Version", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("push: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fail("push: HTTP %d: %s", resp.StatusCode, msg)
	}
	fmt.Printf("pushed %d bytes of %s: HTTP %d\n", len(body), contentType, resp.StatusCode)
}

func profiles(app, tags string, cpu, heap []byte) []series {
	base := [][2]string{{"service_name", app}}
	for _, kv := range strings.Split(tags, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			base = append(base, [2]string{k, v})
		}
	}
	with := func(name string) [][2]string {
		return append(append([][2]string{}, base...), [2]string{"__name__", name})
	}
	return []series{
		{labels: with("process_cpu"), profiles: [][]byte{cpu}},
		{labels: with("memory"), profiles: [][]byte{heap}},
	}
}

func save(dir, file string, data []byte) {
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		fail("save: %v", err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "pushv1: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	server := flag.String("server", "http://127.0.0.1:4040", "Ember's address")
	app := flag.String("app", "pushv1", "the service_name of every series")
	tags := flag.String("tags", "", "more labels, k=v,k2=v2")
	seconds := flag.Float64("seconds", 3, "CPU seconds to burn")
	jsonApp := flag.String("json-app", "", "also push as JSON, under this service_name")
	dir := flag.String("save", "", "also write the profiles and the request here")
	flag.Parse()
	runtime.MemProfileRate = 64 << 10

	var cpu bytes.Buffer
	if err := pprof.StartCPUProfile(&cpu); err != nil {
		fail("cpu profile: %v", err)
	}
	budget := time.Duration(*seconds * float64(time.Second))
	work(context.Background(), cpuTime(), budget, time.Now().Add(10*budget))
	pprof.StopCPUProfile()
	heap := heapProfile()

	body := encode(profiles(*app, *tags, cpu.Bytes(), heap))
	save(*dir, "cpu.pb.gz", cpu.Bytes())
	save(*dir, "heap.pb.gz", heap)
	save(*dir, "push.bin", body)
	push(*server, "application/proto", body)
	if *jsonApp != "" {
		push(*server, "application/json", encodeJSON(profiles(*jsonApp, *tags, cpu.Bytes(), heap)))
	}
}
