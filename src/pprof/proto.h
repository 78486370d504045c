// proto.h — count profiles as pprof's profile.proto, gzip-compressed (Go:
// runtime/pprof's proto.go and printCountProfile's protobuf branch).
//
// Owns the encoding only: callers give the samples (a stack of return
// addresses, a count, optional labels); this file symbolizes them, lists the
// loaded objects as mappings and writes the message.
//
// Why our own encoder and not libprotobuf: the message is write-only, has
// eight message types (github.com/google/pprof proto/profile.proto, stable
// since 2016) and needs three wire types; the encoder is ~150 lines, where
// libprotobuf would add protoc code generation to the build, a 3 MB
// library to every program linking stray, and nothing we would use.
// zlib (Debian zlib1g) writes the gzip stream, as Go's compress/gzip does.
//
// Not for use while the world is stopped (allocates, symbolizes).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace stray::rt {

struct ProtoSample {
  std::vector<uintptr_t> pcs;  // return addresses, innermost first
  int64_t count = 0;
  std::vector<std::pair<std::string, std::string>> labels;  // string labels
};

// A gzipped profile.proto with one sample type, `name`/count (Go's count
// profiles: "goroutine", "goroutineleak"), period type the same, period 1.
std::string encode_count_profile(const std::string& name, const std::vector<ProtoSample>& samples,
                                 int64_t time_nanos);

}  // namespace stray::rt
