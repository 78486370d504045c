// moby27782.cc — GoKer Moby27782 (moby/moby#27782; Go:
// testgoroutineleakprofile/goker/moby27782.go). Flaky. (Not in the
// catalogue's table; Go's goroutineleakprofile_test.go lists it.)
//
// readLogs (G2) follows a log file while holding the logger's lock; when the
// log watcher is closed first, it calls the file watcher's Remove, which
// waits on a Cond that only non-write events broadcast — and the file
// watcher (G3) only produces write events, which it then tries to deliver
// forever in a select, since nobody closes it.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

using Op_moby27782 = std::uint32_t;
constexpr Op_moby27782 Write_moby27782 = 1 << 1;  // Go's fsnotify Op bits: only Write is used

struct Watcher_moby27782;

struct Event_moby27782 {
  Op_moby27782 Op = 0;

  bool ignoreLinux(Watcher_moby27782* w) const;
};

Event_moby27782 newEvent(Op_moby27782 op) { return Event_moby27782{op}; }

struct Watcher_moby27782 {
  Chan<Event_moby27782> Events;
  stray::Mutex mu;            // L1
  stray::Cond* cv = nullptr;  // C1
  Chan<Unit> done;

  void readEvents() {
    for (;;) {
      if (isClosed()) break;
      Event_moby27782 event = newEvent(Write_moby27782);  // MODIFY event
      if (!event.ignoreLinux(this)) {
        stray::yield();
        if (stray::select(stray::send_case(Events, event), stray::recv_case(done)) == 1) break;
      }
    }
    Events.close();  // Go: deferred
  }

  bool isClosed() const {
    return stray::select(stray::recv_case(done), stray::default_case([] {})) == 0;
  }

  void Close() {
    if (isClosed()) return;
    done.close();
  }

  void Remove() {
    mu.lock();
    bool exists = true;
    while (exists) {
      cv->wait();
      stray::yield();
    }
    mu.unlock();  // Go: deferred
  }
};

bool Event_moby27782::ignoreLinux(Watcher_moby27782* w) const {
  if (Op != Write_moby27782) {
    w->mu.lock();
    w->cv->broadcast();
    w->mu.unlock();  // Go: deferred
    return true;
  }
  stray::yield();
  return false;
}

Watcher_moby27782* NewWatcher_moby27782() {
  auto* w = new Watcher_moby27782;
  w->Events = stray::make_chan<Event_moby27782>();
  w->done = stray::make_chan<Unit>();
  w->cv = new stray::Cond(w->mu);                // Go: sync.NewCond(&w.mu)
  stray::go(&Watcher_moby27782::readEvents, w);  // G3
  return w;
}

struct FileWatcher_moby27782 {  // Go: an interface
  virtual Chan<Event_moby27782> Events() = 0;
  virtual void Remove() = 0;
  virtual void Close() = 0;

 protected:
  ~FileWatcher_moby27782() = default;
};

struct fsNotifyWatcher_moby27782 final : FileWatcher_moby27782 {
  Watcher_moby27782* watcher;  // Go: embeds *Watcher

  explicit fsNotifyWatcher_moby27782(Watcher_moby27782* w) : watcher(w) {}
  Chan<Event_moby27782> Events() override { return watcher->Events; }
  void Remove() override { watcher->Remove(); }
  void Close() override { watcher->Close(); }
};

FileWatcher_moby27782* NewEventWatcher_moby27782() {
  return new fsNotifyWatcher_moby27782(NewWatcher_moby27782());
}
FileWatcher_moby27782* New_moby27782() { return NewEventWatcher_moby27782(); }
FileWatcher_moby27782* watchFile_moby27782() { return New_moby27782(); }

struct LogWatcher_moby27782 {
  stray::Once closeOnce;
  Chan<Unit> closeNotifier;

  void Close() {
    closeOnce.call([this] { closeNotifier.close(); });
  }
  Chan<Unit> WatchClose() const { return closeNotifier; }
};

LogWatcher_moby27782* NewLogWatcher_moby27782() {
  auto* w = new LogWatcher_moby27782;
  w->closeNotifier = stray::make_chan<Unit>();
  return w;
}

void followLogs_moby27782(LogWatcher_moby27782* logWatcher) {
  FileWatcher_moby27782* fileWatcher = watchFile_moby27782();
  auto waitRead = [fileWatcher, logWatcher] {
    stray::yield();
    if (stray::select(stray::recv_case(fileWatcher->Events()),
                      stray::recv_case(logWatcher->WatchClose())) == 1) {
      fileWatcher->Remove();
      return;
    }
  };
  auto handleDecodeErr = [&waitRead] { waitRead(); };
  handleDecodeErr();
  fileWatcher->Close();  // Go: deferred
}

struct JSONFileLogger_moby27782 {
  stray::Mutex mu;
  std::map<LogWatcher_moby27782*, Unit> readers;

  LogWatcher_moby27782* ReadLogs() {
    LogWatcher_moby27782* logWatcher = NewLogWatcher_moby27782();
    stray::go(&JSONFileLogger_moby27782::readLogs, this, logWatcher);  // G2
    return logWatcher;
  }

  void readLogs(LogWatcher_moby27782* logWatcher) {
    mu.lock();
    readers[logWatcher] = Unit{};
    followLogs_moby27782(logWatcher);
    mu.unlock();  // Go: deferred
  }

  void Close() {
    mu.lock();
    for (auto& [r, _] : readers) r->Close();
    readers.clear();
    mu.unlock();  // Go: deferred
  }
};

struct Container_moby27782 {
  JSONFileLogger_moby27782* LogDriver = nullptr;

  void InitializeStdio() {
    if (std::optional<std::string> err = startLogging()) Reset();
  }

  std::optional<std::string> startLogging() {  // Go's error; nullopt is nil
    auto* l = new JSONFileLogger_moby27782;
    LogDriver = l;
    (void)l->ReadLogs();
    return "Some error";
  }

  void Reset() {
    if (LogDriver) LogDriver->Close();
  }
};

void Moby27782() {
  for (int i = 0; i < 10000; i++)
    stray::go(&Container_moby27782::InitializeStdio, new Container_moby27782);  // G1
}
constexpr const char* kReadLogs =
    R"(JSONFileLogger_moby27782::readLogs(\([^{]*\))? \[sync\.Cond\.Wait\])";
constexpr const char* kReadEvents = R"(Watcher_moby27782::readEvents(\([^{]*\))? \[select\])";
LEAK_CASE({.name = "Moby27782",
           .kind = Kind::flaky,
           .run = Moby27782,
           .expected = {kReadLogs, kReadEvents},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
