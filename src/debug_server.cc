// debug_server.cc — the /debug/pprof HTTP server (Go: net/http/pprof); see
// stray/pprof.h for the routes and their answers.
//
// Built on cpp-httplib (Debian libcpp-httplib-dev): a maintained HTTP/1.1
// server with its own thread pool, so requests run on plain OS threads that
// a stuck goroutine cannot hold up. Each request that needs a leak pass runs
// it on its own thread (passes are serialised by leak.cc); httplib retries
// its poll/accept calls on EINTR, which the passes' stop signal causes.
//
// Owns: the httplib::Server and the thread running its accept loop.
// Invariants: `thread` is joinable iff the server was started and not yet
// stopped; stop() is the only place that joins it, before Impl goes away
// (the thread uses Impl until then).
#include <httplib.h>

#include <atomic>
#include <charconv>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "stray/go.h"
#include "stray/pprof.h"

namespace stray::pprof {

struct DebugServer::Impl {
  httplib::Server server;
  std::atomic<bool> ended{false};  // the accept loop returned
  std::thread thread;
  std::string host;
  int port = 0;
};

namespace {

struct Description {
  const char* name;
  const char* text;
};
constexpr Description kProfiles[] = {
    {"goroutine",
     "Stack traces of all current goroutines. Use debug=2 as a query parameter to export in the same format as "
     "an unrecovered panic."},
    {"goroutineleak",
     "Stack traces of all leaked goroutines: blocked goroutines nothing reachable can ever wake. Requesting it "
     "runs a leak pass (the world is stopped meanwhile)."},
};

// "?debug=" as Go reads it, but strict: a missing value is 0; anything but 0,
// 1 or 2 is the caller's mistake.
bool parse_debug(const httplib::Request& req, int* debug, std::string* why) {
  *debug = 0;
  if (!req.has_param("debug")) return true;
  std::string v = req.get_param_value("debug");
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *debug);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
    *why = "invalid debug parameter \"" + v + "\": want 0, 1 or 2";
    return false;
  }
  if (*debug < 0 || *debug > 2) {
    *why = "debug parameter out of range: " + v + ": want 0, 1 or 2";
    return false;
  }
  return true;
}

void text_error(httplib::Response& res, int status, const std::string& why) {
  res.status = status;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(why + "\n", "text/plain; charset=utf-8");
}

void profile(const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  Profile* p = lookup(name);
  if (!p) return text_error(res, 404, "Unknown profile: " + name);
  int debug = 0;
  std::string why;
  if (!parse_debug(req, &debug, &why)) return text_error(res, 400, why);
  std::ostringstream out;
  try {
    p->write_to(out, debug);
  } catch (const PassError& e) {
    return text_error(res, 500, std::string("Could not produce the profile: ") + e.what());
  }
  res.set_header("X-Content-Type-Options", "nosniff");
  if (debug == 0) {
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
    res.set_content(out.str(), "application/octet-stream");
  } else {
    res.set_content(out.str(), "text/plain; charset=utf-8");
  }
}

// Go's index page, with the profiles stray has.
void index(const httplib::Request&, httplib::Response& res) {
  std::ostringstream h;
  h << "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n\tdisplay:inline-block;\n"
       "\twidth:6rem;\n}\n</style>\n</head>\n<body>\n/debug/pprof/\n<br>\n<p>Set debug=1 as a query parameter to "
       "export in legacy text format</p>\n<br>\nTypes of profiles available:\n<table>\n<thead><td>Count</td>"
       "<td>Profile</td></thead>\n";
  for (const Description& d : kProfiles) {
    std::string count;
    try {
      count = std::to_string(lookup(d.name)->count());
    } catch (const PassError&) {
      count = "?";
    }
    h << "<tr><td>" << count << "</td><td><a href='" << d.name << "?debug=1'>" << d.name << "</a></td></tr>\n";
  }
  h << "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n<p>\nProfile Descriptions:\n"
       "<ul>\n";
  for (const Description& d : kProfiles)
    h << "<li><div class=profile-name>" << d.name << ": </div> " << d.text << "</li>\n";
  h << "</ul>\n</p>\n</body>\n</html>\n";
  res.set_content(h.str(), "text/html; charset=utf-8");
}

void split_address(std::string_view addr, std::string* host, int* port) {
  std::size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == addr.size())
    throw std::invalid_argument("stray::pprof::serve: address \"" + std::string(addr) + "\" is not host:port");
  std::string_view p = addr.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), *port);
  if (ec != std::errc() || end != p.data() + p.size() || *port < 0 || *port > 65535)
    throw std::invalid_argument("stray::pprof::serve: bad port in \"" + std::string(addr) + "\"");
  *host = std::string(addr.substr(0, colon));
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  if (host->empty()) *host = "127.0.0.1";
}

}  // namespace

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
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_.reset();
}

bool DebugServer::serving() const { return impl_ != nullptr; }
int DebugServer::port() const { return impl_ ? impl_->port : 0; }
std::string DebugServer::address() const {
  if (!impl_) return "";
  bool v6 = impl_->host.find(':') != std::string::npos;
  return (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" + std::to_string(impl_->port);
}

DebugServer serve(std::string_view addr) {
  auto impl = std::make_unique<DebugServer::Impl>();
  int port = 0;
  split_address(addr, &impl->host, &port);
  httplib::Server& s = impl->server;
  // SO_REUSEADDR only, as Go's listeners: httplib's default adds
  // SO_REUSEPORT, which would let a second server share a busy port.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.Get("/debug/pprof/", index);
  s.Get("/debug/pprof", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/debug/pprof/"); });
  s.Get(R"(/debug/pprof/([^/]+))", profile);
  if (port == 0) {
    port = s.bind_to_any_port(impl->host);
    if (port < 0) throw std::runtime_error("stray::pprof::serve: cannot bind " + std::string(addr));
  } else if (!s.bind_to_port(impl->host, port)) {
    throw std::runtime_error("stray::pprof::serve: cannot bind " + std::string(addr) + ": " + strerror(errno));
  }
  impl->port = port;
  // Return only once the accept loop runs: httplib's stop() does nothing
  // to a server that has not started listening yet, which then never would
  // stop. (Connections made before that wait in the listen backlog.)
  DebugServer::Impl* i = impl.get();
  i->thread = std::thread([i] {
    i->server.listen_after_bind();
    i->ended = true;
  });
  while (!s.is_running() && !i->ended.load()) std::this_thread::yield();
  return DebugServer(std::move(impl));
}

}  // namespace stray::pprof
