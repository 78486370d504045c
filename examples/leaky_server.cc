// leaky_server — a program that leaks goroutines on a timer and serves
// /debug/pprof until interrupted. Try, while it runs:
//
//   go tool pprof -top http://127.0.0.1:6060/debug/pprof/goroutineleak
//   curl 'http://127.0.0.1:6060/debug/pprof/goroutineleak?debug=1'
//   curl 'http://127.0.0.1:6060/debug/pprof/goroutine?debug=2'
//
// Usage: leaky_server [host:port]   (default 127.0.0.1:6060)
#include <signal.h>

#include <cstdio>
#include <stray/stray.h>

namespace {

// A request handler that gives up waiting for its backend but leaves the
// backend's reply with nowhere to go: the reply sender leaks.
[[gnu::noinline]] void handle_request(int id) {
  auto reply = stray::make_chan<int>();
  stray::go([reply, id] { reply.send(id * id); });  // nobody receives after a timeout
  stray::select(stray::recv_case(reply, [](std::optional<int>) {}),
                stray::recv_case(stray::after(std::chrono::microseconds(1)), [](auto) {}));
}

// A watcher whose stop channel is dropped without being closed.
[[gnu::noinline]] void start_watcher() {
  auto stop = stray::make_chan<stray::Unit>();
  stray::go([stop] { (void)stop.recv(); });
}

}  // namespace

int main(int argc, char** argv) {
  // Block the signals that end the program before any thread exists, so
  // every thread inherits the mask and main can sigwait for them.
  sigset_t quit;
  sigemptyset(&quit);
  sigaddset(&quit, SIGINT);
  sigaddset(&quit, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &quit, nullptr);

  stray::pprof::DebugServer server = stray::pprof::serve(argc > 1 ? argv[1] : "127.0.0.1:6060");
  std::printf("serving http://%s/debug/pprof/ — Ctrl-C to stop\n", server.address().c_str());
  std::fflush(stdout);

  stray::go([] {
    stray::Ticker tick(std::chrono::milliseconds(200));
    for (int i = 0;; i++) {
      (void)tick.c().recv();
      handle_request(i);
      if (i % 5 == 0) start_watcher();
    }
  });

  int sig = 0;
  sigwait(&quit, &sig);
  std::printf("leaked goroutines: %d\n", stray::pprof::lookup("goroutineleak")->count());
  server.stop();
}
