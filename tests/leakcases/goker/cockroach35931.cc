// cockroach35931.cc — GoKer Cockroach35931 (cockroachdb/cockroach#35931;
// Go: testgoroutineleakprofile/goker/cockroach35931.go). Strict.
//
// A flow has two inbound streams whose row channels have capacity 1; the
// left one already holds a row. Cancelling the flow pushes one more row to
// every pending receiver, and the push on the full left channel blocks the
// goroutine (func2) forever: nobody consumes the rows.
#include <map>
#include <mutex>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

struct RowReceiver_cockroach35931 {  // Go: an interface
  virtual void Push() = 0;

 protected:
  ~RowReceiver_cockroach35931() = default;
};

struct inboundStreamInfo_cockroach35931 {
  RowReceiver_cockroach35931* receiver = nullptr;
};

struct RowChannel_cockroach35931 final : RowReceiver_cockroach35931 {
  stray::Chan<Unit> dataChan;

  // The buffer size can be either 0 or 1 when this function is entered.
  // We need context sensitivity or a path-condition on the buffer size
  // to find this bug.
  void Push() override { dataChan.send(Unit{}); }

  void initWithBufSizeAndNumSenders(int chanBufSize) {
    dataChan = stray::make_chan<Unit>(std::size_t(chanBufSize));
  }
};

struct Flow_cockroach35931;

// Go: map[int]*inboundStreamInfo_cockroach35931. Go ranges over a map in a
// random order, std::map in key order: either way the push on the full left
// channel blocks (after the right one, or before it).
using inboundStreams_cockroach35931 = std::map<int, inboundStreamInfo_cockroach35931*>;

struct flowEntry_cockroach35931 {
  Flow_cockroach35931* flow = nullptr;
  inboundStreams_cockroach35931* inboundStreams = nullptr;  // Go: a map value, a reference
};

struct flowRegistry_cockroach35931 : stray::Mutex {  // Go: embeds sync.Mutex
  std::map<int, flowEntry_cockroach35931*> flows;

  flowEntry_cockroach35931* getEntryLocked(int id) {
    auto it = flows.find(id);
    if (it == flows.end()) it = flows.emplace(id, new flowEntry_cockroach35931{}).first;
    return it->second;
  }

  std::vector<RowReceiver_cockroach35931*> cancelPendingStreamsLocked(int id) {
    flowEntry_cockroach35931* entry = flows[id];
    std::vector<RowReceiver_cockroach35931*> pendingReceivers;
    for (auto& [_, is] : *entry->inboundStreams) pendingReceivers.push_back(is->receiver);
    return pendingReceivers;
  }

  void RegisterFlow(Flow_cockroach35931* f, inboundStreams_cockroach35931* inboundStreams);
};

struct Flow_cockroach35931 {
  int id = 0;
  flowRegistry_cockroach35931* flowRegistry = nullptr;
  inboundStreams_cockroach35931* inboundStreams = nullptr;

  void cancel() {
    flowRegistry->lock();
    std::vector<RowReceiver_cockroach35931*> timedOutReceivers =
        flowRegistry->cancelPendingStreamsLocked(id);
    flowRegistry->unlock();

    for (RowReceiver_cockroach35931* receiver : timedOutReceivers) receiver->Push();
  }
};

void flowRegistry_cockroach35931::RegisterFlow(Flow_cockroach35931* f,
                                               inboundStreams_cockroach35931* inboundStreams) {
  flowEntry_cockroach35931* entry = getEntryLocked(f->id);
  entry->flow = f;
  entry->inboundStreams = inboundStreams;
}

flowRegistry_cockroach35931* makeFlowRegistry_cockroach35931() {
  return new flowRegistry_cockroach35931;
}

void Cockroach35931() {
  stray::go([] {
    flowRegistry_cockroach35931* fr = makeFlowRegistry_cockroach35931();

    auto* left = new RowChannel_cockroach35931;
    left->initWithBufSizeAndNumSenders(1);
    auto* right = new RowChannel_cockroach35931;
    right->initWithBufSizeAndNumSenders(1);

    auto* inboundStreams = new inboundStreams_cockroach35931{
        {0, new inboundStreamInfo_cockroach35931{left}},
        {1, new inboundStreamInfo_cockroach35931{right}},
    };

    left->Push();

    auto* flow = new Flow_cockroach35931{0, fr, inboundStreams};

    fr->RegisterFlow(flow, inboundStreams);

    flow->cancel();
  });
}

constexpr const char* kFunc2 =
    R"(Cockroach35931\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";

LEAK_CASE(
    {.name = "Cockroach35931", .kind = Kind::strict, .run = Cockroach35931, .expected = {kFunc2}});

}  // namespace
}  // namespace leakcases
