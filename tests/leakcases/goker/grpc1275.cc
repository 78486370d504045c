// grpc1275.go (gRPC #1275): a stream reader (G2) waits for data on the
// stream's receive buffer; CloseStream should wake it but sends nothing.
// The test gives up after a timeout, and the reader waits forever.
#include <chrono>
#include <cstddef>
#include <span>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct Reader_grpc1275 {  // Go: io.Reader
  virtual ~Reader_grpc1275() = default;
  virtual int Read(std::span<std::byte> p) = 0;
};

struct recvBuffer_grpc1275 {
  stray::Chan<bool> c;
  stray::Chan<bool> get() const { return c; }
};

struct recvBufferReader_grpc1275 : Reader_grpc1275 {
  recvBuffer_grpc1275* recv = nullptr;

  int Read(std::span<std::byte> p) override {
    // Go: a select with the single case <-r.recv.get(), compiled to a receive.
    (void)recv->get().recv();
    return 0;
  }
};

struct Stream_grpc1275 {
  Reader_grpc1275* trReader = nullptr;

  int Read(std::span<std::byte> p) {  // Go: io.ReadFull(s.trReader, p)
    std::size_t n = 0;
    while (n < p.size()) n += std::size_t(trReader->Read(p.subspan(n)));
    return int(n);
  }
};

struct http2Client_grpc1275 {
  // It is the client's CloseStream, called by the main goroutine, that
  // should send the message, but it does not (the fix sends it).
  void CloseStream(Stream_grpc1275* s) {}

  Stream_grpc1275* NewStream() {
    auto* buf = new recvBuffer_grpc1275{stray::make_chan<bool>()};
    auto* reader = new recvBufferReader_grpc1275;
    reader->recv = buf;
    return new Stream_grpc1275{reader};
  }
};

void testInflightStreamClosing_grpc1275() {
  auto* client = new http2Client_grpc1275;
  Stream_grpc1275* stream = client->NewStream();
  auto donec = stray::make_chan<bool>();
  stray::go([stream, donec] {  // G2
    Defer d{[&] { donec.close(); }};
    std::vector<std::byte> p{std::byte{1}};  // Go: []byte{1}
    stream->Read(p);
  });
  client->CloseStream(stream);
  auto* timeout = new stray::Timer(300ns);  // Go: time.NewTimer returns a heap *Timer
  stray::select(stray::recv_case(donec,
                                 [timeout] {
                                   if (!timeout->stop()) (void)timeout->c().recv();
                                 }),
                stray::recv_case(timeout->c()));
}

void Grpc1275() {
  stray::go([] {
    testInflightStreamClosing_grpc1275();  // G1
  });
}

constexpr const char* kG2 = R"(testInflightStreamClosing_grpc1275\(\))"
                            R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Grpc1275",
           .kind = Kind::strict,
           .run = Grpc1275,
           .expected = {kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
