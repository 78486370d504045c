// Go twins of stray's benchmarks (bench/*.cc): same names, same work per op.
// Run by bench/compare.sh; not part of stray's build.
package straybench

import (
	"context"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func withProcs(b *testing.B, n int, f func()) {
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	f()
}

func spawnFinish(b *testing.B, procs int) {
	withProcs(b, procs, func() {
		for i := 0; i < b.N; i++ {
			const batch = 1000
			var left int32 = batch
			done := make(chan struct{}, 1)
			for k := 0; k < batch; k++ {
				go func() {
					if atomic.AddInt32(&left, -1) == 0 {
						done <- struct{}{}
					}
				}()
			}
			<-done
		}
	})
}

func BenchmarkSpawnFinish_1(b *testing.B) { spawnFinish(b, 1) }
func BenchmarkSpawnFinish_2(b *testing.B) { spawnFinish(b, 2) }

func pingPong(b *testing.B, procs int) {
	withProcs(b, procs, func() {
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
		}()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ping <- 1
			<-pong
		}
		close(ping)
	})
}

func BenchmarkPingPong_1(b *testing.B) { pingPong(b, 1) }
func BenchmarkPingPong_2(b *testing.B) { pingPong(b, 2) }

func buffered(b *testing.B, p int) {
	withProcs(b, 2, func() {
		const per = 10000
		for i := 0; i < b.N; i++ {
			c := make(chan int, 128)
			done := make(chan int64, p)
			for k := 0; k < p; k++ {
				go func() {
					for j := 0; j < per; j++ {
						c <- j
					}
				}()
				go func() {
					var sum int64
					for j := 0; j < per; j++ {
						sum += int64(<-c)
					}
					done <- sum
				}()
			}
			for k := 0; k < p; k++ {
				<-done
			}
		}
	})
}

func BenchmarkBuffered_1(b *testing.B) { buffered(b, 1) }
func BenchmarkBuffered_4(b *testing.B) { buffered(b, 4) }

func selectPingPong(b *testing.B, k int) {
	withProcs(b, 1, func() {
		ping, pong := make(chan int), make(chan int)
		idle := []chan int{make(chan int), make(chan int), make(chan int)}
		recv := func(from chan int) int {
			if k == 2 {
				select {
				case v, ok := <-from:
					if !ok {
						return -1
					}
					return v
				case <-idle[0]:
				}
			} else {
				select {
				case v, ok := <-from:
					if !ok {
						return -1
					}
					return v
				case <-idle[0]:
				case <-idle[1]:
				case <-idle[2]:
				}
			}
			return 0
		}
		go func() {
			for {
				v := recv(ping)
				if v < 0 {
					return
				}
				pong <- v
			}
		}()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ping <- 1
			recv(pong)
		}
		close(ping)
	})
}

func BenchmarkSelectPingPong_2(b *testing.B) { selectPingPong(b, 2) }
func BenchmarkSelectPingPong_4(b *testing.B) { selectPingPong(b, 4) }

func rss() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Reports bytes_per_goroutine: RSS growth with 100k goroutines parked.
func BenchmarkParkedMemory(b *testing.B) {
	const n = 100000
	var per float64
	withProcs(b, 2, func() {
		for i := 0; i < b.N; i++ {
			gate := make(chan struct{})
			parked := make(chan struct{}, n)
			runtime.GC()
			before := rss()
			for k := 0; k < n; k++ {
				go func() {
					parked <- struct{}{}
					<-gate
				}()
			}
			for k := 0; k < n; k++ {
				<-parked
			}
			per = float64(rss()-before) / n
			close(gate)
		}
	})
	b.ReportMetric(per, "bytes_per_goroutine")
}

func BenchmarkMutexUncontended(b *testing.B) {
	withProcs(b, 1, func() {
		var m sync.Mutex
		for i := 0; i < b.N; i++ {
			m.Lock()
			m.Unlock()
		}
	})
}

func BenchmarkMutexContended(b *testing.B) {
	withProcs(b, 2, func() {
		const per = 20000
		for i := 0; i < b.N; i++ {
			var m sync.Mutex
			var counter int64
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; k < per; k++ {
						m.Lock()
						counter++
						m.Unlock()
					}
				}()
			}
			wg.Wait()
		}
	})
}

func BenchmarkRWMutexReadMostly(b *testing.B) {
	withProcs(b, 2, func() {
		const per = 20000
		for i := 0; i < b.N; i++ {
			var rw sync.RWMutex
			var value int64
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var sum int64
					for k := 0; k < per; k++ {
						if k%10 == 0 {
							rw.Lock()
							value++
							rw.Unlock()
						} else {
							rw.RLock()
							sum += value
							rw.RUnlock()
						}
					}
					_ = sum
				}()
			}
			wg.Wait()
		}
	})
}

func BenchmarkWaitGroupFanOut(b *testing.B) {
	withProcs(b, 2, func() {
		for i := 0; i < b.N; i++ {
			var wg sync.WaitGroup
			var n int32
			for k := 0; k < 10000; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					atomic.AddInt32(&n, 1)
				}()
			}
			wg.Wait()
		}
	})
}

func BenchmarkTimers10k(b *testing.B) {
	withProcs(b, 2, func() {
		for i := 0; i < b.N; i++ {
			var wg sync.WaitGroup
			for k := 0; k < 10000; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(50 * time.Microsecond)
				}()
			}
			wg.Wait()
		}
	})
}

func BenchmarkContextCancelTree(b *testing.B) {
	withProcs(b, 1, func() {
		for i := 0; i < b.N; i++ {
			root, cancel := context.WithCancel(context.Background())
			keep := make([]context.Context, 0, 10000)
			cancels := make([]context.CancelFunc, 0, 10000)
			for k := 0; k < 100; k++ {
				mid, cm := context.WithCancel(root)
				for j := 0; j < 99; j++ {
					leaf, cl := context.WithCancel(mid)
					keep = append(keep, leaf)
					cancels = append(cancels, cl)
				}
				keep = append(keep, mid)
				cancels = append(cancels, cm)
			}
			cancel()
			_ = keep[len(keep)-1].Err()
		}
	})
}

// The twin of bench/heap_pass_bench.cc: one goroutineleak profile (debug=1)
// with 10,000 leaked goroutines, each blocked forever receiving on a
// channel only it holds, and 1 GiB of live heap: 16Mi 64-byte objects kept
// in a global slice. The objects hold pointers (all nil), so the GC scans
// each one as stray's conservative pass does; the Noscan variant keeps
// [64]byte objects, which Go's GC marks without reading. Setup happens once
// per process (testing calls a benchmark with b.N=1 first); run each alone:
// go test -run '^$' -bench '^BenchmarkPassLeaked10kHeap1GiB$' -benchtime=3x
type obj64 [8]*uint64
type noscan64 [64]byte

var (
	heapObjs       []*obj64
	heapNoscanObjs []*noscan64
	leakedOnce     sync.Once
)

//go:noinline
func leakOne(parked *sync.WaitGroup) {
	ch := make(chan int)
	go func() {
		parked.Done()
		<-ch
	}()
}

func leakGoroutines() {
	leakedOnce.Do(func() {
		const n = 10000
		var parked sync.WaitGroup
		parked.Add(n)
		for i := 0; i < n; i++ {
			leakOne(&parked)
		}
		parked.Wait()
		time.Sleep(50 * time.Millisecond) // let the last ones park in recv
	})
}

func passLeakedHeap(b *testing.B, setup func()) {
	setup()
	leakGoroutines()
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		b.Fatal("no goroutineleak profile in this Go")
	}
	p.WriteTo(io.Discard, 1) // warm-up, as stray's
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.WriteTo(io.Discard, 1)
	}
	b.StopTimer()
	// Process CPU time per profile (all GC workers), as stray's cpu_time:
	// on a loaded machine wall time says little.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	if p.Count() != 10000 {
		b.Fatalf("goroutineleak counts %d, want 10000", p.Count())
	}
	b.ReportMetric(float64(p.Count()), "leaked")
}

func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkPassLeaked10kHeap1GiB(b *testing.B) {
	passLeakedHeap(b, func() {
		if heapObjs == nil {
			heapObjs = make([]*obj64, 16<<20)
			for i := range heapObjs {
				heapObjs[i] = new(obj64)
			}
		}
	})
}

func BenchmarkPassLeaked10kHeap1GiBNoscan(b *testing.B) {
	passLeakedHeap(b, func() {
		if heapNoscanObjs == nil {
			heapNoscanObjs = make([]*noscan64, 16<<20)
			for i := range heapNoscanObjs {
				o := new(noscan64)
				o[0] = byte(i)
				heapNoscanObjs[i] = o
			}
		}
	})
}

// Twin of bench/stall_bench.cc: the worst round trip of a ping-pong pair
// serving while goroutineleak profiles (debug=1) are taken. Leaked
// goroutines stay leaked: one shape per process, e.g.
// go test -run '^$' -bench '^BenchmarkServeStall/10000/256/0$' -benchtime=5x
func BenchmarkServeStall(b *testing.B) {
	for _, shape := range [][3]int{{10000, 256, 0}, {100000, 0, 0}, {10000, 256, 1}} {
		name := strconv.Itoa(shape[0]) + "/" + strconv.Itoa(shape[1]) + "/" + strconv.Itoa(shape[2])
		b.Run(name, func(b *testing.B) { serveStall(b, shape[0], shape[1], shape[2] != 0) })
	}
}

var (
	stallSink  [2]uint64
	stallHeap  []*obj64
	stallSetup sync.Once // testing runs the function with b.N=1 first
)

func serveStall(b *testing.B, leaked, mib int, writer bool) {
	stallSetup.Do(func() {
		stallHeap = make([]*obj64, mib<<14)
		for i := range stallHeap {
			stallHeap[i] = new(obj64)
		}
		var parked sync.WaitGroup
		parked.Add(leaked)
		for i := 0; i < leaked; i++ {
			leakOne(&parked)
		}
		parked.Wait()
		time.Sleep(50 * time.Millisecond)
	})
	heap := stallHeap

	ping, pong := make(chan int), make(chan int)
	var stop, measuring atomic.Bool
	var worst atomic.Int64
	var served sync.WaitGroup
	served.Add(2)
	go func() {
		defer served.Done()
		for v := range ping {
			pong <- v
		}
	}()
	go func() {
		defer served.Done()
		for !stop.Load() {
			t0 := time.Now()
			ping <- 1
			<-pong
			if ns := time.Since(t0).Nanoseconds(); measuring.Load() && ns > worst.Load() {
				worst.Store(ns)
			}
		}
		close(ping)
	}()
	if writer {
		served.Add(1)
		go func() {
			defer served.Done()
			for round := 0; !stop.Load(); round++ {
				for i := 0; i < len(heap) && !stop.Load(); i += 64 {
					heap[i][7] = &stallSink[round%2] // a pointer store, no allocation
				}
			}
		}()
	}
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		b.Fatal("no goroutineleak profile in this Go")
	}
	p.WriteTo(io.Discard, 1) // warm-up, as stray's
	measuring.Store(true)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.WriteTo(io.Discard, 1)
	}
	b.StopTimer()
	measuring.Store(false)
	stop.Store(true)
	served.Wait()
	// Go's detector may miss a goroutine while the writer runs (a stale
	// pointer in a buffer being written): a few, never more than leaked.
	if n := p.Count(); n > leaked || n < leaked*99/100 {
		b.Fatalf("goroutineleak counts %d, want %d", n, leaked)
	}
	b.ReportMetric(float64(p.Count()), "leaked")
	b.ReportMetric(float64(worst.Load()), "stall-ns")
	runtime.KeepAlive(heap)
}
