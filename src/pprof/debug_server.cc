// debug_server.cc — the /debug/pprof HTTP server (Go: net/http/pprof); see
// stray/pprof.h for the routes, the answers and ServeLimits.
//
// A small HTTP/1.1 server of its own: GET and HEAD, one request per
// connection (every answer says "Connection: close"), on plain OS threads
// that a stuck goroutine cannot hold up:
//   * the loop thread owns the listening socket and every connection that is
//     not with a worker; from one poll() it accepts, reads request heads and
//     writes answers, all non-blocking, and closes each connection at its
//     deadline. A trickling or silent client costs one pollfd, no thread;
//   * kWorkers worker threads turn a complete head into an answer (most
//     answers run a leak pass: milliseconds, passes one at a time).
// Every server thread calls rt::stw_thread_init() first, as the runtime's
// threads do: a pass must be able to stop it. The stop signal makes poll()
// return EINTR, which the loop treats as a spurious wake-up.
//
// A connection (Conn) is in one phase, which says who owns it:
//   reading  loop    head incomplete; deadline = accept + read_header_timeout
//                    (then closed unanswered); a head over max_header_bytes
//                    gets a 431;
//   working  worker  in Server::todo, with a worker, or in Server::done;
//   writing  loop    answer being sent; deadline = answer + write_timeout.
// At most limits.max_connections are open. One accepted beyond that evicts
// the loop-held connection with the earliest deadline, or is closed at once
// when every open one is working. A new connection is read right after
// accept(), before later accepts could evict it: a real client's head is
// already there, so a flood of idle connections cannot push it out.
//
// Why not cpp-httplib, which served this before (Debian 12's 0.11.4): its
// read timeout bounds each recv(), not the head, so a client sending a
// header byte every second holds one of its 8 pool threads for ever; its
// task queue takes every connection accepted, and each idle one holds a
// thread for the 5 s timeout (8 threads: 1.6 connections a second); and
// the TaskQueue that Server::new_task_queue may supply gets an opaque
// closure, not the socket, so it cannot close an excess connection.
// Measured (scratch program, 2 vCPUs; docs/decisions.md): with 16 such
// tricklers, or 1,000 idle connections, a normal request got no answer
// within its 120 s timeout.
//
// Owns: Server (DebugServer::Impl) — the listening socket, the wake eventfd,
// the threads, every Conn. Invariants: Server::open counts the open
// connection sockets (held, todo, with a worker, done) and never exceeds
// limits.max_connections; `held` holds only reading and writing Conns (the
// null entries a round leaves are swept before the next poll); the loop
// exits once stop was asked, `held` is empty and no Conn is working; the
// workers exit when the loop says so, with `todo` empty; stop() joins the
// loop, then the workers, before Server goes away.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/timers.h"  // add_sat: a limit of milliseconds::max() means none
#include "stray/pprof.h"
#include "runtime/stw.h"

namespace stray::pprof {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 4;  // answers computed at once (passes still run one at a time)
// After accept() fails for want of descriptors or memory, the listening
// socket is not polled for this long (it stays readable: no busy loop).
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

enum class Phase { reading, working, writing };

struct Conn {
  int fd = -1;
  Phase phase = Phase::reading;
  Clock::time_point deadline;
  std::string in;   // the head so far (reading), the whole head (working)
  std::string out;  // the answer (writing)
  std::size_t sent = 0;
};

// The server's state; DebugServer::Impl is one.
struct Server {
  ServeLimits limits;
  std::string host;
  int port = 0;
  int listen_fd = -1;  // loop thread, once started; -1 after stop
  int wake_fd = -1;    // eventfd: a Conn in `done`, or stop asked
  std::atomic<bool> stopping{false};

  std::mutex mu;                            // guards todo, done, quit
  std::condition_variable work;             // todo not empty, or quit
  std::deque<std::unique_ptr<Conn>> todo;   // working, for a worker
  std::vector<std::unique_ptr<Conn>> done;  // working, answered, for the loop
  bool quit = false;                        // the workers may exit

  // Loop thread only.
  std::vector<std::unique_ptr<Conn>> held;  // reading and writing
  int open = 0;
  int working = 0;                 // Conns handed to the workers, not yet taken back
  Clock::time_point accept_again;  // after an accept() backoff

  std::thread loop;
  std::vector<std::thread> workers;

  ~Server() {
    if (listen_fd >= 0) close(listen_fd);
    if (wake_fd >= 0) close(wake_fd);
  }
  void wake() {
    uint64_t one = 1;
    (void)!write(wake_fd, &one, sizeof one);  // fails only when the counter is already huge
  }
};

// ---- Answers (worker threads) ----

struct Answer {
  int status = 200;
  std::string type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
  }
  return "Unknown";
}

std::string serialize(const Answer& a, bool head_only) {
  std::string s = "HTTP/1.1 " + std::to_string(a.status) + " " + reason(a.status) +
                  "\r\nContent-Type: " + a.type +
                  "\r\nContent-Length: " + std::to_string(a.body.size()) +
                  "\r\nConnection: close\r\n";
  for (const auto& [k, v] : a.headers) s += k + ": " + v + "\r\n";
  s += "\r\n";
  if (!head_only) s += a.body;
  return s;
}

Answer text_error(int status, const std::string& why) {
  Answer a;
  a.status = status;
  a.headers = {{"X-Content-Type-Options", "nosniff"}};
  a.body = why + "\n";
  return a;
}

struct Description {
  const char* name;
  const char* text;
};
constexpr Description kProfiles[] = {
    {"goroutine",
     "Stack traces of all current goroutines. Use debug=2 as a query parameter to export in the "
     "same format as an unrecovered panic."},
    {"goroutineleak",
     "Stack traces of all leaked goroutines: blocked goroutines nothing reachable can ever wake. "
     "Requesting it runs a leak pass (the world is stopped meanwhile)."},
};

// %XX escapes (and '+' for a space in a query); nullopt if malformed.
std::optional<std::string> unescape(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); i++) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] != '%') {
      out += s[i];
    } else {
      unsigned v = 0;
      if (i + 2 >= s.size() ||
          std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3)
        return std::nullopt;
      out += char(v);
      i += 2;
    }
  }
  return out;
}

// The first value of key in a query string ("a=1&debug=2"), as Go's
// FormValue; a key without '=' has the empty value. An undecodable value is
// taken as written (and then rejected by its reader).
std::optional<std::string> query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq),
                     v = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (unescape(k, true) != std::string(key)) continue;
    return unescape(v, true).value_or(std::string(v));
  }
  return std::nullopt;
}

// "?debug=" as Go reads it, but strict: a missing value is 0; anything but 0,
// 1 or 2 is the caller's mistake.
bool parse_debug(std::string_view query, int* debug, std::string* why) {
  *debug = 0;
  std::optional<std::string> v = query_value(query, "debug");
  if (!v) return true;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), *debug);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty()) {
    *why = "invalid debug parameter \"" + *v + "\": want 0, 1 or 2";
    return false;
  }
  if (*debug < 0 || *debug > 2) {
    *why = "debug parameter out of range: " + *v + ": want 0, 1 or 2";
    return false;
  }
  return true;
}

Answer profile(const std::string& name, std::string_view query) {
  Profile* p = lookup(name);
  if (!p) return text_error(404, "Unknown profile: " + name);
  int debug = 0;
  std::string why;
  if (!parse_debug(query, &debug, &why)) return text_error(400, why);
  std::ostringstream out;
  try {
    p->write_to(out, debug);
  } catch (const PassError& e) {
    return text_error(500, std::string("Could not produce the profile: ") + e.what());
  }
  Answer a;
  a.headers = {{"X-Content-Type-Options", "nosniff"}};
  if (debug == 0) {
    a.type = "application/octet-stream";
    a.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  }
  a.body = std::move(out).str();
  return a;
}

// Go's index page, with the profiles stray has.
Answer index() {
  std::ostringstream h;
  h << "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n"
       "\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n<body>\n/debug/pprof/\n"
       "<br>\n<p>Set debug=1 as a query parameter to export in legacy text format</p>\n<br>\n"
       "Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n";
  for (const Description& d : kProfiles) {
    std::string count;
    try {
      count = std::to_string(lookup(d.name)->count());
    } catch (const PassError&) {
      count = "?";
    }
    h << "<tr><td>" << count << "</td><td><a href='" << d.name << "?debug=1'>" << d.name
      << "</a></td></tr>\n";
  }
  h << "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n<p>\n"
       "Profile Descriptions:\n<ul>\n";
  for (const Description& d : kProfiles)
    h << "<li><div class=profile-name>" << d.name << ": </div> " << d.text << "</li>\n";
  h << "</ul>\n</p>\n</body>\n</html>\n";
  Answer a;
  a.type = "text/html; charset=utf-8";
  a.body = std::move(h).str();
  return a;
}

Answer route(const std::string& path, std::string_view query) {
  constexpr std::string_view kPrefix = "/debug/pprof/";
  if (path == "/debug/pprof") {
    Answer a;
    a.status = 302;
    a.type = "text/html; charset=utf-8";
    a.headers = {{"Location", "/debug/pprof/"}};
    a.body = "<a href=\"/debug/pprof/\">Found</a>.\n";
    return a;
  }
  if (path == kPrefix) return index();
  if (path.starts_with(kPrefix) && path.find('/', kPrefix.size()) == std::string::npos)
    return profile(path.substr(kPrefix.size()), query);
  return text_error(404, "404 page not found");
}

// The answer to one complete request head, serialized.
std::string respond(std::string_view head) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  // "METHOD SP request-target SP HTTP/1.x", exactly.
  std::size_t sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos || sp2 == sp1 + 1)
    return serialize(text_error(400, "malformed request line"), false);
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0")
    return serialize(text_error(400, "unsupported HTTP version"), false);
  bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    Answer a = text_error(405, "Method Not Allowed");
    a.headers.emplace_back("Allow", "GET, HEAD");
    return serialize(a, false);
  }
  // An absolute-form target ("http://host/path") names the path after the
  // authority.
  if (target.starts_with("http://")) {
    std::size_t slash = target.find('/', 7);
    target = slash == std::string_view::npos ? "/" : target.substr(slash);
  }
  std::size_t q = target.find('?');
  std::optional<std::string> path = unescape(target.substr(0, q), false);
  if (!path || !path->starts_with('/'))
    return serialize(text_error(400, "malformed request target"), false);
  std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  Answer a;
  try {
    a = route(*path, query);
  } catch (const std::exception& e) {  // out of memory, most likely: the host lives on
    a = text_error(500, std::string("internal error: ") + e.what());
  }
  return serialize(a, head_only);
}

void worker_main(Server* s) {
  rt::stw_thread_init();
  pthread_setname_np(pthread_self(), "stray-pprof-w");
  std::unique_lock<std::mutex> lk(s->mu);
  for (;;) {
    s->work.wait(lk, [s] { return !s->todo.empty() || s->quit; });
    if (s->todo.empty()) return;
    std::unique_ptr<Conn> c = std::move(s->todo.front());
    s->todo.pop_front();
    lk.unlock();
    c->out = respond(c->in);
    lk.lock();
    s->done.push_back(std::move(c));
    s->wake();
  }
}

// ---- Connections (the loop thread) ----

void close_conn(Server* s, std::unique_ptr<Conn>& c) {
  close(c->fd);
  c.reset();
  s->open--;
}

// All of the answer is out: close, after reading whatever the client sent
// past its head (unread input would make close() reset the connection,
// which may discard the answer before the client has read it).
void finish(Server* s, std::unique_ptr<Conn>& c) {
  char buf[4096];
  for (int i = 0; i < 16 && recv(c->fd, buf, sizeof buf, MSG_DONTWAIT) > 0; i++) {
  }
  close_conn(s, c);
}

void write_some(Server* s, std::unique_ptr<Conn>& c) {
  while (c->sent < c->out.size()) {
    ssize_t n =
        send(c->fd, c->out.data() + c->sent, c->out.size() - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      c->sent += std::size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;  // poll for POLLOUT
    } else {
      return close_conn(s, c);  // the client went away
    }
  }
  finish(s, c);
}

// c->out holds the answer.
void start_writing(Server* s, std::unique_ptr<Conn>& c) {
  c->phase = Phase::writing;
  c->deadline = rt::add_sat(Clock::now(), stray::detail::saturate(s->limits.write_timeout));
  c->in.clear();
  write_some(s, c);
}

// Where the head ends ("\n\r\n" or "\n\n", as Go also takes bare LFs), or
// npos; from: where new bytes start.
std::size_t head_end(std::string_view in, std::size_t from) {
  for (std::size_t i = from >= 3 ? from - 3 : 0; i < in.size(); i++) {
    if (in[i] != '\n') continue;
    if (i + 1 < in.size() && in[i + 1] == '\n') return i + 2;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

void read_head(Server* s, std::unique_ptr<Conn>& c) {
  const std::size_t cap = s->limits.max_header_bytes;
  char buf[4096];
  for (;;) {
    std::size_t room = std::min(sizeof buf, cap + 1 - c->in.size());
    ssize_t n = recv(c->fd, buf, room, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // poll for more
    if (n <= 0) return close_conn(s, c);  // gone before its request was complete
    std::size_t from = c->in.size();
    c->in.append(buf, std::size_t(n));
    std::size_t end = head_end(c->in, from);
    if (end != std::string_view::npos && end <= cap) {
      c->in.resize(end);
      c->phase = Phase::working;
      s->working++;
      {
        std::lock_guard<std::mutex> g(s->mu);
        s->todo.push_back(std::move(c));
      }
      s->work.notify_one();
      return;
    }
    if (c->in.size() > cap) {
      c->out = serialize(text_error(431, "431 Request Header Fields Too Large"), false);
      return start_writing(s, c);
    }
  }
}

// The loop-held connection that would be closed soonest, or null.
std::unique_ptr<Conn>* victim(Server* s) {
  std::unique_ptr<Conn>* v = nullptr;
  for (auto& c : s->held)
    if (c && (!v || c->deadline < (*v)->deadline)) v = &c;
  return v;
}

void admit(Server* s, int fd) {
  if (s->open >= s->limits.max_connections) {
    std::unique_ptr<Conn>* v = victim(s);
    if (!v) {
      close(fd);  // every open connection is being answered
      return;
    }
    close_conn(s, *v);
  }
  s->open++;
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->deadline = rt::add_sat(Clock::now(), stray::detail::saturate(s->limits.read_header_timeout));
  s->held.push_back(std::move(c));
  read_head(s, s->held.back());
}

// Up to max_connections accepts a round, so that a flood of connections
// cannot keep the loop from the ones it holds.
void accept_some(Server* s) {
  for (int i = 0; i < s->limits.max_connections; i++) {
    int fd = accept4(s->listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      admit(s, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      s->accept_again = Clock::now() + kAcceptBackoff;  // EMFILE & co.
    return;
  }
}

void loop_main(Server* s) {
  rt::stw_thread_init();
  pthread_setname_np(pthread_self(), "stray-pprof");
  std::vector<pollfd> pfds;
  std::vector<std::unique_ptr<Conn>> answered;
  for (;;) {
    // 1. Take the answered connections back and start sending.
    {
      std::lock_guard<std::mutex> g(s->mu);
      answered.swap(s->done);
    }
    for (auto& c : answered) {
      s->working--;
      start_writing(s, c);
      if (c) s->held.push_back(std::move(c));
    }
    answered.clear();

    // 2. On stop: no more connections, nor requests; the answers go out.
    Clock::time_point now = Clock::now();
    if (s->stopping.load(std::memory_order_acquire)) {
      if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
      }
      for (auto& c : s->held)
        if (c && c->phase == Phase::reading) close_conn(s, c);
    }

    // 3. Deadlines.
    for (auto& c : s->held)
      if (c && c->deadline <= now) close_conn(s, c);
    std::erase(s->held, nullptr);
    if (s->listen_fd < 0 && s->held.empty() && s->working == 0) break;

    // 4. Wait for the sockets, the next deadline or a wake-up.
    pfds.assign(1, pollfd{s->wake_fd, POLLIN, 0});
    Clock::time_point until = Clock::time_point::max();
    bool listening = s->listen_fd >= 0 && now >= s->accept_again;
    if (listening) pfds.push_back(pollfd{s->listen_fd, POLLIN, 0});
    if (s->listen_fd >= 0 && !listening) until = s->accept_again;
    for (auto& c : s->held) {
      pfds.push_back(pollfd{c->fd, short(c->phase == Phase::reading ? POLLIN : POLLOUT), 0});
      until = std::min(until, c->deadline);
    }
    int timeout = -1;
    if (until != Clock::time_point::max())
      timeout = int(std::min<int64_t>(
          std::chrono::ceil<std::chrono::milliseconds>(until - now).count(), INT_MAX));
    if (poll(pfds.data(), pfds.size(), timeout) < 0) continue;  // EINTR: a pass stopped this thread

    // 5. Serve what is ready: the held connections (in pfds' order), then
    // the new ones.
    if (pfds[0].revents) {
      uint64_t n;
      (void)!read(s->wake_fd, &n, sizeof n);
    }
    std::size_t first = listening ? 2 : 1;
    for (std::size_t i = 0, n = s->held.size(); i < n; i++) {
      if (!pfds[first + i].revents) continue;
      auto& c = s->held[i];
      if (c->phase == Phase::reading)
        read_head(s, c);
      else
        write_some(s, c);
    }
    std::erase(s->held, nullptr);
    if (listening && pfds[1].revents) accept_some(s);
    std::erase(s->held, nullptr);
  }
  std::lock_guard<std::mutex> g(s->mu);
  s->quit = true;
  s->work.notify_all();
}

void split_address(std::string_view addr, std::string* host, int* port) {
  std::size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == addr.size())
    throw std::invalid_argument("stray::pprof::serve: address \"" + std::string(addr) +
                                "\" is not host:port");
  std::string_view p = addr.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), *port);
  if (ec != std::errc() || end != p.data() + p.size() || *port < 0 || *port > 65535)
    throw std::invalid_argument("stray::pprof::serve: bad port in \"" + std::string(addr) + "\"");
  *host = std::string(addr.substr(0, colon));
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  if (host->empty()) *host = "127.0.0.1";
}

// A listening socket on host:port (SO_REUSEADDR only, as Go's listeners:
// SO_REUSEPORT would let a second server share a busy port); its port.
int listen_on(const std::string& host, int port, std::string_view addr, int* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int e = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); e != 0)
    throw std::runtime_error("stray::pprof::serve: cannot bind " + std::string(addr) + ": " +
                             gai_strerror(e));
  int err = 0;
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    throw std::runtime_error("stray::pprof::serve: cannot bind " + std::string(addr) + ": " +
                             strerror(err));
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *bound_port = ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  return fd;
}

}  // namespace

struct DebugServer::Impl : Server {};

DebugServer::DebugServer() = default;
DebugServer::DebugServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DebugServer::DebugServer(DebugServer&&) noexcept = default;
DebugServer& DebugServer::operator=(DebugServer&& o) noexcept {
  if (this != &o) {
    stop();
    impl_ = std::move(o.impl_);
  }
  return *this;
}
DebugServer::~DebugServer() { stop(); }

void DebugServer::stop() {
  if (!impl_) return;
  impl_->stopping.store(true, std::memory_order_release);
  impl_->wake();
  impl_->loop.join();
  for (std::thread& w : impl_->workers) w.join();
  impl_.reset();
}

bool DebugServer::serving() const { return impl_ != nullptr; }
int DebugServer::port() const { return impl_ ? impl_->port : 0; }
std::string DebugServer::address() const {
  if (!impl_) return "";
  bool v6 = impl_->host.find(':') != std::string::npos;
  return (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" + std::to_string(impl_->port);
}

DebugServer serve(std::string_view addr, const ServeLimits& limits) {
  if (limits.max_connections < 1 || limits.read_header_timeout.count() <= 0 ||
      limits.write_timeout.count() <= 0 || limits.max_header_bytes < 1)
    throw std::invalid_argument("stray::pprof::serve: every ServeLimits field must be positive");
  auto impl = std::make_unique<DebugServer::Impl>();
  impl->limits = limits;
  int port = 0;
  split_address(addr, &impl->host, &port);
  impl->listen_fd = listen_on(impl->host, port, addr, &impl->port);
  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0)
    throw std::runtime_error(std::string("stray::pprof::serve: eventfd: ") + strerror(errno));
  // Connections made before the loop polls wait in the listen backlog.
  Server* s = impl.get();
  try {
    for (int i = 0; i < kWorkers; i++) s->workers.emplace_back(worker_main, s);
    s->loop = std::thread(loop_main, s);
  } catch (...) {  // no thread to be had: the workers started so far go
    {
      std::lock_guard<std::mutex> g(s->mu);
      s->quit = true;
    }
    s->work.notify_all();
    for (std::thread& w : s->workers) w.join();
    throw;
  }
  return DebugServer(std::move(impl));
}

}  // namespace stray::pprof
