// Command rideshare is one region of the ride-sharing example, profiled
// with runtime/pprof and pushed to Ember; with -load it is the load
// generator instead (see load.go).
//
//	rideshare -region eu-north -listen 127.0.0.1:5002 -ember http://127.0.0.1:4040
//
// GET /bike, /scooter and /car find the nearest vehicle of that kind. The
// work is plain CPU, sized so that a car costs the most (a car's search
// area is four times a bike's, a scooter's twice). Each order runs inside
// pprof.Do with the label vehicle=<kind>, so every CPU sample it takes
// carries that label; the region is a tag of the whole app name.
//
// In eu-north every search also checks driver availability, and in every
// other period of -lock-period seconds (120 by default) that check spins
// on a contended lock: mutexLock then takes most of the region's CPU. The
// periods count from the Unix epoch, so with a multiple of 10 s they line
// up with Ember's 10 s buckets; -lock-period 10 is the fast mode.
//
// Every -upload-every seconds (10; the windows end on multiples of it in
// Unix time) it stops the CPU profile, starts the next one and pushes the
// finished one to Ember's /ingest as a multipart form, the way pyroscope-go
// does. A failed push is logged and dropped: profiling never stops the
// service.
//
// Prints "rideshare REGION listening on http://HOST:PORT" once it accepts
// requests (port 0 picks a free one). SIGINT, SIGTERM or -duration stop it
// after it has pushed its last profile.
//
// Standard library only: GO111MODULE=off go build -o rideshare .
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const appName = "ride-sharing-app-go"

// unit is the number of spin steps in one unit of work: about 10 ms of CPU.
const unit = 3000000

var (
	region     = "us-east"
	lockPeriod = int64(120)
)

var sink uint64

// spin does n units of work. Each caller below has its own loop so that the
// flame graph charges the CPU to the function that asked for it.
//
//go:noinline
func spin(n int) uint64 {
	x := sink
	for i := 0; i < n*unit; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// lockContentionOn tells whether eu-north's driver lookup contends on a
// lock now: every other period of lockPeriod seconds.
func lockContentionOn(now time.Time) bool {
	return (now.Unix()/lockPeriod)%2 == 1
}

// mutexLock stands for a spin lock under contention: the goroutine burns
// CPU while it waits, twice as long as the search that needed it.
//
//go:noinline
func mutexLock(n int) { sink = spin(2 * n) }

//go:noinline
func checkDriverAvailability(n int) {
	sink = spin(n) / 2
	if region == "eu-north" && lockContentionOn(time.Now()) {
		mutexLock(n)
	}
}

//go:noinline
func findNearestVehicle(n int, vehicle string) {
	sink = spin(n)
	if region == "eu-north" {
		checkDriverAvailability(n)
	}
}

// order runs the search with the vehicle label on every sample it takes.
func order(ctx context.Context, n int, vehicle string) {
	pprof.Do(ctx, pprof.Labels("vehicle", vehicle), func(context.Context) {
		findNearestVehicle(n, vehicle)
	})
}

//go:noinline
func orderBike(ctx context.Context, searchRadius int) { order(ctx, searchRadius, "bike") }

//go:noinline
func orderScooter(ctx context.Context, searchRadius int) { order(ctx, searchRadius*2, "scooter") }

//go:noinline
func orderCar(ctx context.Context, searchRadius int) { order(ctx, searchRadius*4, "car") }

var orders = map[string]func(context.Context, int){
	"/bike": orderBike, "/scooter": orderScooter, "/car": orderCar,
}

func handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fn := orders[r.URL.Path]
	if fn == nil {
		if r.URL.Path == "/" || r.URL.Path == "/healthz" {
			fmt.Fprintf(w, "rideshare %s: try /bike, /scooter or /car\n", region)
			return
		}
		http.Error(w, "no such endpoint: try /bike, /scooter or /car", http.StatusNotFound)
		return
	}
	radius := 1
	if arg := r.URL.Query().Get("radius"); arg != "" {
		v, err := strconv.Atoi(arg)
		if err != nil || v < 1 || v > 20 {
			http.Error(w, "radius must be a whole number from 1 to 20", http.StatusBadRequest)
			return
		}
		radius = v
	}
	fn(r.Context(), radius)
	fmt.Fprintf(w, "%s: found a vehicle for %s\n", region, r.URL.Path[1:])
}

// ---- Profiling -------------------------------------------------------------

// profiler captures CPU profiles back to back and pushes each to Ember.
type profiler struct {
	server string // Ember's address, e.g. http://127.0.0.1:4040
	name   string // app name with the static tags
	every  int64  // seconds per profile
	client *http.Client

	mu             sync.Mutex
	pushed, failed int
	reported       bool
}

// push sends one CPU profile as pyroscope-go does: a multipart form with
// the profile in the field "profile".
func (p *profiler) push(prof []byte, from, until time.Time) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("profile", "profile.pprof")
	if err == nil {
		_, err = fw.Write(prof)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return err
	}
	q := url.Values{}
	q.Set("name", p.name)
	q.Set("from", strconv.FormatInt(from.Unix(), 10))
	q.Set("until", strconv.FormatInt(until.Unix(), 10))
	q.Set("spyName", "gospy")
	q.Set("sampleRate", "100")
	req, err := http.NewRequest("POST", p.server+"/ingest?"+q.Encode(), &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// deliver pushes and counts; only the first failure in a row is logged.
func (p *profiler) deliver(prof []byte, from, until time.Time) {
	err := p.push(prof, from, until)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.pushed++
		p.reported = false
		return
	}
	p.failed++
	if !p.reported {
		log.Printf("push to %s failed (profile dropped; will keep trying): %v", p.server, err)
		p.reported = true
	}
}

// nextEnd is the end of the window that contains t: the next multiple of
// every seconds in Unix time.
func (p *profiler) nextEnd(t time.Time) time.Time {
	return time.Unix((t.Unix()/p.every+1)*p.every, 0)
}

// run profiles until stop is closed, then pushes the last partial profile
// and closes done.
func (p *profiler) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var pending sync.WaitGroup
	for {
		var buf bytes.Buffer
		from := time.Now()
		if err := pprof.StartCPUProfile(&buf); err != nil {
			log.Printf("cpu profile: %v; profiling is off", err)
			return
		}
		timer := time.NewTimer(time.Until(p.nextEnd(from)))
		stopped := false
		select {
		case <-timer.C:
		case <-stop:
			timer.Stop()
			stopped = true
		}
		pprof.StopCPUProfile()
		until := time.Now()
		pending.Add(1)
		go func() { // pushes while the next profile runs
			defer pending.Done()
			p.deliver(buf.Bytes(), from, until)
		}()
		if stopped {
			pending.Wait()
			return
		}
	}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("rideshare: ")
	load := flag.Bool("load", false, "be the load generator: rideshare -load REGION=URL...")
	flag.StringVar(&region, "region", envOr("REGION", "us-east"), "region tag")
	listen := flag.String("listen", "127.0.0.1:5000", "address to serve on; port 0 for any free one")
	ember := flag.String("ember", envOr("EMBER_SERVER_ADDRESS", "http://127.0.0.1:4040"), "Ember's address")
	flag.Int64Var(&lockPeriod, "lock-period", 120,
		"seconds between eu-north's lock contention switching on and off (10 for a fast demo)")
	every := flag.Int64("upload-every", 10, "seconds per pushed profile")
	rate := flag.Float64("rate", 4, "with -load: requests per second per region")
	duration := flag.Duration("duration", 0, "stop after this long (default: run until stopped)")
	flag.Parse()
	if *load {
		os.Exit(runLoad(flag.Args(), *rate, *duration))
	}
	if lockPeriod < 1 || *every < 1 {
		log.Fatal("-lock-period and -upload-every must be at least 1 second")
	}
	log.SetPrefix("rideshare " + region + ": ")
	os.Exit(serve(*listen, *ember, *every, *duration))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serve(listen, ember string, every int64, duration time.Duration) int {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Printf("%v", err)
		return 1
	}
	prof := &profiler{server: ember, name: appName + ".cpu{region=" + region + "}",
		every: every, client: &http.Client{Timeout: 10 * time.Second}}
	stopProf, profDone := make(chan struct{}), make(chan struct{})
	go prof.run(stopProf, profDone)

	srv := &http.Server{Handler: http.HandlerFunc(handle)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("rideshare %s listening on http://%s\n", region, ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if duration > 0 {
		timeout = time.After(duration)
	}
	rc := 0
	select {
	case <-sig:
	case <-timeout:
	case err := <-served:
		log.Printf("serve: %v", err)
		rc = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("shutdown: %v", err)
	}
	close(stopProf)
	<-profDone
	log.Printf("stopped: %d profiles pushed to Ember, %d dropped", prof.pushed, prof.failed)
	return rc
}
