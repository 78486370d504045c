// etcd5509.go (etcd #5509): remoteClient.acquire returns on a closed client
// without releasing its read lock (a missing RUnlock); Client.Close then
// blocks in Lock forever. No goroutine holds the lock: its reader is gone.
#include "leakcase.h"

namespace leakcases {
namespace {

using error_etcd5509 = const char*;                         // nullptr: no error
constexpr error_etcd5509 ErrConnClosed_etcd5509 = nullptr;  // Go: a nil error variable

struct Client_etcd5509 {
  stray::RWMutex mu;
  stray::Context ctx;
  stray::CancelFunc cancel;

  void Close() {
    mu.lock();
    Defer d{[this] { mu.unlock(); }};
    if (!cancel) return;
    cancel();
    cancel = nullptr;
    mu.unlock();
    mu.lock();
  }
};

struct remoteClient_etcd5509 {
  Client_etcd5509* client = nullptr;
  stray::Mutex mu;

  error_etcd5509 acquire(stray::Context ctx) {
    for (;;) {
      client->mu.lock_shared();
      bool closed = !client->cancel;
      mu.lock();
      mu.unlock();
      if (closed) return ErrConnClosed_etcd5509;  // missing RUnlock before return
      client->mu.unlock_shared();
    }
  }
};

struct KV_etcd5509 {
  virtual ~KV_etcd5509() = default;
  virtual error_etcd5509 Get(stray::Context ctx) = 0;
  virtual error_etcd5509 Do(stray::Context ctx) = 0;
};

struct kv_etcd5509 : KV_etcd5509 {
  remoteClient_etcd5509* rc = nullptr;

  error_etcd5509 Get(stray::Context ctx) override { return Do(ctx); }
  error_etcd5509 Do(stray::Context ctx) override {
    for (;;) {
      error_etcd5509 err = do_(ctx);
      if (err == nullptr) return nullptr;
      return err;
    }
  }
  error_etcd5509 do_(stray::Context ctx) { return getRemote(ctx); }  // Go: do
  error_etcd5509 getRemote(stray::Context ctx) { return rc->acquire(ctx); }
};

KV_etcd5509* NewKV_etcd5509(Client_etcd5509* c) {
  auto* kv = new kv_etcd5509;
  kv->rc = new remoteClient_etcd5509;
  kv->rc->client = c;
  return kv;
}

void Etcd5509() {
  stray::go([] {
    auto [ctx, cancel] = stray::with_cancel(stray::background());  // Go: the cancel func is dropped
    auto* cli = new Client_etcd5509;
    cli->ctx = ctx;
    KV_etcd5509* kv = NewKV_etcd5509(cli);
    auto donec = stray::make_chan<stray::Unit>();
    stray::go([kv, donec] {
      Defer d{[&] { donec.close(); }};
      error_etcd5509 err = kv->Get(stray::background());
      if (err != nullptr && err != ErrConnClosed_etcd5509) (void)"Expect ErrConnClosed";
    });
    stray::yield();
    cli->Close();
    (void)donec.recv();
  });
}

constexpr const char* kG1 =
    R"(Etcd5509\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.RWMutex\.Lock\])";

LEAK_CASE({.name = "Etcd5509",
           .kind = Kind::strict,
           .run = Etcd5509,
           .expected = {kG1}});

}  // namespace
}  // namespace leakcases
