// Go twins of stray's benchmarks (bench/*.cc): same names, same work per op.
// Run by bench/compare.sh; not part of stray's build.
package straybench

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
