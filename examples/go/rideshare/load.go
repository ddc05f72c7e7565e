// The load generator of the ride-sharing example (rideshare -load).
//
//	rideshare -load [-rate 4] [-duration 0] us-east=http://127.0.0.1:5001 \
//	    eu-north=http://127.0.0.1:5002 ap-south=http://127.0.0.1:5003
//
// One goroutine per region, over keep-alive connections, cycles through
// /bike, /scooter and /car at -rate requests per second, so every region
// gets the same mix. A region that does not answer is retried every second.
// SIGINT, SIGTERM or -duration stop it.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

var paths = []string{"/bike", "/scooter", "/car"}

type target struct {
	region, url string
	sent        int
}

// drive sends requests to one region until stop is closed.
func drive(t *target, rate float64, stop <-chan struct{}) {
	client := &http.Client{Timeout: 10 * time.Second}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	i := len(t.region) // regions start at different points of the mix
	reported := false
	for {
		resp, err := client.Get(t.url + paths[i%len(paths)])
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			t.sent++
			i++
			reported = false
			next = next.Add(interval)
		} else {
			if !reported {
				log.Printf("%s (%s) not answering: %v; retrying every second", t.region, t.url, err)
				reported = true
			}
			next = time.Now().Add(time.Second)
		}
		delay := time.Until(next)
		if delay < 0 { // the region is slower than the rate
			next, delay = time.Now(), 0
		}
		select {
		case <-stop:
			return
		case <-time.After(delay):
		}
	}
}

func runLoad(args []string, rate float64, duration time.Duration) int {
	log.SetPrefix("load: ")
	if len(args) == 0 || rate <= 0 {
		log.Print("usage: rideshare -load [-rate N] [-duration D] REGION=http://HOST:PORT...")
		return 2
	}
	var targets []*target
	var names []string
	for _, a := range args {
		region, u, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(u, "http://") {
			log.Printf("target %q: expected REGION=http://HOST:PORT", a)
			return 2
		}
		targets = append(targets, &target{region: region, url: strings.TrimRight(u, "/")})
		names = append(names, region)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func(t *target) {
			defer wg.Done()
			drive(t, rate, stop)
		}(t)
	}
	fmt.Printf("load: %g requests/s to each of %s\n", rate, strings.Join(names, ", "))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if duration > 0 {
		timeout = time.After(duration)
	}
	select {
	case <-sig:
	case <-timeout:
	}
	close(stop)
	wg.Wait()
	var sent []string
	for _, t := range targets {
		sent = append(sent, fmt.Sprintf("%s %d", t.region, t.sent))
	}
	log.Printf("sent %s", strings.Join(sent, ", "))
	return 0
}
