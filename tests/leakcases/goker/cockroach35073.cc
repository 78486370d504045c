// cockroach35073.go (CockroachDB #35073): the outbox's row channel (capacity
// 16) is filled before anyone consumes it; one more Push from a helper
// goroutine and one from the test goroutine itself block on the full
// channel, and the consumer is never started.
#include <atomic>
#include <cstdint>

#include "leakcase.h"

namespace leakcases {
namespace {

enum ConsumerStatus_cockroach35073 : std::uint32_t {
  NeedMoreRows_cockroach35073,
  DrainRequested_cockroach35073,
  ConsumerClosed_cockroach35073,
};

constexpr int rowChannelBufSize_cockroach35073 = 16;
constexpr int outboxBufRows_cockroach35073 = 16;

struct rowSourceBase_cockroach35073 {
  std::atomic<std::uint32_t> consumerStatus{NeedMoreRows_cockroach35073};
  void consumerClosed() { consumerStatus.store(ConsumerClosed_cockroach35073); }
};

using RowChannelMsg_cockroach35073 = int;

struct RowChannel_cockroach35073 : rowSourceBase_cockroach35073 {
  stray::Chan<RowChannelMsg_cockroach35073> dataChan;

  void ConsumerClosed() {
    consumerClosed();
    (void)dataChan.try_recv();
  }

  ConsumerStatus_cockroach35073 Push() {
    auto status = ConsumerStatus_cockroach35073(consumerStatus.load());
    switch (status) {
      case NeedMoreRows_cockroach35073:
        dataChan.send(RowChannelMsg_cockroach35073(0));
        break;
      case DrainRequested_cockroach35073:
      case ConsumerClosed_cockroach35073:
        break;
    }
    return status;
  }

  void InitWithNumSenders() { initWithBufSizeAndNumSenders(rowChannelBufSize_cockroach35073); }
  void initWithBufSizeAndNumSenders(int chanBufSize) {
    dataChan = stray::make_chan<RowChannelMsg_cockroach35073>(std::size_t(chanBufSize));
  }
};

struct outbox_cockroach35073 : RowChannel_cockroach35073 {
  void init() { InitWithNumSenders(); }

  void start(stray::WaitGroup* wg) {
    if (wg != nullptr) wg->add(1);
    stray::go(&outbox_cockroach35073::run, this, wg);
  }

  void run(stray::WaitGroup* wg) {
    if (wg != nullptr) wg->done();
  }
};

void Cockroach35073() {
  stray::go([] {
    auto* outbox = new outbox_cockroach35073;
    outbox->init();
    auto* wg = new stray::WaitGroup;  // Go: its address goes to another goroutine
    for (int i = 0; i < outboxBufRows_cockroach35073; i++) outbox->Push();
    auto* blockedPusherWg = new stray::WaitGroup;  // Go: captured by the closure
    blockedPusherWg->add(1);
    stray::go([outbox, blockedPusherWg] {
      outbox->Push();
      blockedPusherWg->done();
    });
    outbox->start(wg);
    wg->wait();
    outbox->RowChannel_cockroach35073::Push();
  });
}

constexpr const char* kPusher = R"(Cockroach35073\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                                R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";
constexpr const char* kG1 =
    R"(Cockroach35073\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Cockroach35073",
           .kind = Kind::strict,
           .run = Cockroach35073,
           .expected = {kPusher, kG1}});

}  // namespace
}  // namespace leakcases
