// etcd6708.cc — GoKer Etcd6708 (etcd-io/etcd#6708; Go:
// testgoroutineleakprofile/goker/etcd6708.go). Strict.
//
// Sync takes the cluster client's write lock and, in leader-priority mode,
// asks the members API for the leader; the members API calls back into the
// same client's Do, which takes the read lock: the goroutine (func2) waits
// for a lock it holds itself.
#include "leakcase.h"

namespace leakcases {
namespace {

enum EndpointSelectionMode_etcd6708 {
  EndpointSelectionRandom_etcd6708,
  EndpointSelectionPrioritizeLeader_etcd6708,
};

// Go's interfaces.
struct MembersAPI_etcd6708 {
  virtual void Leader(stray::Context ctx) = 0;

 protected:
  ~MembersAPI_etcd6708() = default;
};

struct httpClient_etcd6708 {
  virtual void Do(stray::Context ctx) = 0;

 protected:
  ~httpClient_etcd6708() = default;
};

struct Client_etcd6708 : httpClient_etcd6708 {  // Go: embeds httpClient_etcd6708
  virtual void Sync(stray::Context ctx) = 0;
  virtual void SetEndpoints() = 0;

 protected:
  ~Client_etcd6708() = default;
};

MembersAPI_etcd6708* NewMembersAPI_etcd6708(Client_etcd6708* c);

struct httpClusterClient_etcd6708 final : Client_etcd6708,
                                          stray::RWMutex {  // Go: embeds sync.RWMutex
  EndpointSelectionMode_etcd6708 selectionMode = EndpointSelectionRandom_etcd6708;

  explicit httpClusterClient_etcd6708(EndpointSelectionMode_etcd6708 mode) : selectionMode(mode) {}

  void getLeaderEndpoint() {
    MembersAPI_etcd6708* mAPI = NewMembersAPI_etcd6708(this);
    mAPI->Leader(stray::background());
  }

  void SetEndpoints() override {
    switch (selectionMode) {
      case EndpointSelectionRandom_etcd6708:
        break;
      case EndpointSelectionPrioritizeLeader_etcd6708:
        getLeaderEndpoint();
        break;
    }
  }

  void Do(stray::Context ctx) override {
    lock_shared();
    unlock_shared();
  }

  void Sync(stray::Context ctx) override {
    lock();
    Defer d{[this] { unlock(); }};

    SetEndpoints();
  }
};

struct httpMembersAPI_etcd6708 final : MembersAPI_etcd6708 {
  httpClient_etcd6708* client = nullptr;

  explicit httpMembersAPI_etcd6708(httpClient_etcd6708* c) : client(c) {}
  void Leader(stray::Context ctx) override { client->Do(ctx); }
};

// Go allocates the members API on the heap here; inlined into
// getLeaderEndpoint, its escape analysis keeps it on that frame instead.
MembersAPI_etcd6708* NewMembersAPI_etcd6708(Client_etcd6708* c) {
  return new httpMembersAPI_etcd6708(c);
}

void Etcd6708() {
  stray::go([] {
    auto* hc = new httpClusterClient_etcd6708(EndpointSelectionPrioritizeLeader_etcd6708);
    hc->Sync(stray::background());
  });
}

constexpr const char* kFunc2 =
    R"(Etcd6708\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.RWMutex\.RLock\])";

LEAK_CASE({.name = "Etcd6708", .kind = Kind::strict, .run = Etcd6708, .expected = {kFunc2}});

}  // namespace
}  // namespace leakcases
