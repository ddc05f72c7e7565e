// Command pprofpush profiles itself with runtime/pprof and pushes the
// profiles to Ember the way pyroscope-go does: multipart/form-data with the
// profile in a field named "profile", and for the heap the previous profile
// and a sample_type_config as well.
//
// It burns CPU in two functions: cpuHeavy, run inside pprof.Do with the
// label vehicle=car, does twice the work of cpuLight, which runs without
// labels, so it gets about two thirds of the CPU samples however busy the
// machine is. Meanwhile it allocates, so the heap profile has something to
// show.
//
// Standard library only (GO111MODULE=off go run main.go -server ...).
//
//	-server  Ember's address, e.g. http://127.0.0.1:4040
//	-app     app name; pushed as <app>.cpu{<tags>} and <app>{<tags>}
//	-tags    static labels, "k=v,k2=v2"
//	-seconds how much CPU time to burn (the run takes longer on a busy
//	         machine, up to ten times as long)
//	-save    a directory to also write the profiles and request bodies to
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
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

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var keep [][]byte

// allocate keeps some memory alive and lets some go, so the heap profile
// has both in-use and allocated-only samples.
//
//go:noinline
func allocate(i int) {
	b := make([]byte, 64<<10)
	if i%4 == 0 {
		keep = append(keep, b)
	}
}

// work runs until the process has used cpu of CPU time since start, or
// the deadline passes.
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
	runtime.GC() // the heap profile is as of the last GC
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		fail("heap profile: %v", err)
	}
	return buf.Bytes()
}

// Sample types of a Go heap profile and how Ember should store them, as
// pyroscope-go describes them.
const heapConfig = `{"alloc_objects":{"units":"objects","cumulative":true},` +
	`"alloc_space":{"units":"bytes","cumulative":true},` +
	`"inuse_objects":{"units":"objects","aggregation":"average"},` +
	`"inuse_space":{"units":"bytes","aggregation":"average"}}`

type upload struct {
	name       string
	from, till time.Time
	profile    []byte
	prev       []byte // optional
	config     string // optional
}

func (u *upload) body() (body []byte, contentType string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part := func(field, file string, data []byte) {
		fw, err := w.CreateFormFile(field, file)
		if err == nil {
			_, err = fw.Write(data)
		}
		if err != nil {
			fail("multipart: %v", err)
		}
	}
	part("profile", "profile.pprof", u.profile)
	if u.prev != nil {
		part("prev_profile", "profile.pprof", u.prev)
	}
	if u.config != "" {
		part("sample_type_config", "sample_type_config.json", []byte(u.config))
	}
	if err := w.Close(); err != nil {
		fail("multipart: %v", err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

func (u *upload) push(server string) {
	body, ct := u.body()
	q := url.Values{}
	q.Set("name", u.name)
	q.Set("from", strconv.FormatInt(u.from.Unix(), 10))
	q.Set("until", strconv.FormatInt(u.till.Unix(), 10))
	q.Set("spyName", "gospy")
	q.Set("sampleRate", "100")
	req, err := http.NewRequest("POST", server+"/ingest?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		fail("request: %v", err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("push %s: %v", u.name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fail("push %s: HTTP %d: %s", u.name, resp.StatusCode, msg)
	}
	fmt.Printf("pushed %s: %d bytes, HTTP %d\n", u.name, len(body), resp.StatusCode)
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
	fmt.Fprintf(os.Stderr, "pprofpush: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	server := flag.String("server", "http://127.0.0.1:4040", "Ember's address")
	app := flag.String("app", "pprofpush", "app name")
	tags := flag.String("tags", "", "static labels, k=v,k2=v2")
	seconds := flag.Float64("seconds", 3, "CPU seconds to burn")
	dir := flag.String("save", "", "also write profiles and bodies here")
	flag.Parse()
	runtime.MemProfileRate = 64 << 10

	prevHeap := heapProfile()
	var cpu bytes.Buffer
	from := time.Now()
	if err := pprof.StartCPUProfile(&cpu); err != nil {
		fail("cpu profile: %v", err)
	}
	budget := time.Duration(*seconds * float64(time.Second))
	work(context.Background(), cpuTime(), budget, from.Add(10*budget))
	pprof.StopCPUProfile()
	till := time.Now()
	heap := heapProfile()

	labels := "{" + *tags + "}"
	cpuUp := upload{name: *app + ".cpu" + labels, from: from, till: till, profile: cpu.Bytes()}
	heapUp := upload{name: *app + labels, from: from, till: till, profile: heap,
		prev: prevHeap, config: heapConfig}
	save(*dir, "go_cpu.pb.gz", cpu.Bytes())
	save(*dir, "go_heap.pb.gz", heap)
	save(*dir, "go_heap_prev.pb.gz", prevHeap)
	if *dir != "" {
		body, ct := cpuUp.body()
		save(*dir, "go_cpu_multipart.body", body)
		save(*dir, "go_cpu_multipart.type", []byte(ct+"\n"))
		body, ct = heapUp.body()
		save(*dir, "go_heap_multipart.body", body)
		save(*dir, "go_heap_multipart.type", []byte(ct+"\n"))
	}
	if *server != "" {
		cpuUp.push(*server)
		heapUp.push(*server)
	}
}
