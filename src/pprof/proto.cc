// proto.cc — see proto.h.
//
// profile.proto field numbers used (github.com/google/pprof):
//   Profile: 1 sample_type, 2 sample, 3 mapping, 4 location, 5 function,
//            6 string_table, 9 time_nanos, 11 period_type, 12 period
//   ValueType: 1 type, 2 unit          Sample: 1 location_id, 2 value, 3 label
//   Label: 1 key, 2 str                 Mapping: 1 id, 2 memory_start,
//     3 memory_limit, 4 file_offset, 5 filename, 6 build_id, 7 has_functions,
//     8 has_filenames, 9 has_line_numbers, 10 has_inline_frames
//   Location: 1 id, 2 mapping_id, 3 address, 4 line
//   Line: 1 function_id, 2 line         Function: 1 id, 2 name, 3 system_name,
//     4 filename
// Invariants: string_table[0] is ""; ids start at 1; a location is one
// address with all its (inlined) lines, innermost first, as pprof expects.
#include "pprof/proto.h"

#include <elf.h>
#include <link.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <map>
#include <stdexcept>

#include "runtime/symbolize.h"

namespace stray::rt {
namespace {

// ---- protobuf wire format ----

class Message {
 public:
  void varint(int field, uint64_t v) {
    key(field, 0);
    put_varint(v);
  }
  void bytes(int field, const std::string& b) {
    key(field, 2);
    put_varint(b.size());
    out_ += b;
  }
  void message(int field, const Message& m) { bytes(field, m.out_); }
  void packed(int field, const std::vector<uint64_t>& vs) {
    Message body;
    for (uint64_t v : vs) body.put_varint(v);
    bytes(field, body.out_);
  }
  const std::string& str() const { return out_; }

 private:
  void key(int field, int wire) { put_varint(uint64_t(field) << 3 | uint64_t(wire)); }
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += char(v | 0x80);
      v >>= 7;
    }
    out_ += char(v);
  }
  std::string out_;
};

// ---- the profile's tables ----

struct Mapping {
  uint64_t start, limit, offset;
  std::string file, build_id;
};

// The executable segments of every loaded object (Go: the /proc/self/maps
// text segments with their ELF build ids).
std::vector<Mapping> loaded_objects() {
  std::vector<Mapping> out;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) {
        auto* maps = static_cast<std::vector<Mapping>*>(arg);
        std::string build_id;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          auto* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const char* name = p + sizeof *n;
            const char* desc = name + ((n->n_namesz + 3) & ~3u);
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
              static const char hex[] = "0123456789abcdef";
              for (unsigned k = 0; k < n->n_descsz; k++) {
                build_id += hex[uint8_t(desc[k]) >> 4];
                build_id += hex[uint8_t(desc[k]) & 15];
              }
            }
            p = desc + ((n->n_descsz + 3) & ~3u);
          }
        }
        std::string file = info->dlpi_name ? info->dlpi_name : "";
        if (file.empty() && maps->empty()) {  // the main program comes first
          char buf[4096];
          ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
          if (n > 0) file.assign(buf, std::size_t(n));
        }
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
          uint64_t start = info->dlpi_addr + ph.p_vaddr;
          maps->push_back({start & ~uint64_t(4095), (start + ph.p_memsz + 4095) & ~uint64_t(4095),
                           ph.p_offset & ~uint64_t(4095), file, build_id});
        }
        return 0;
      },
      &out);
  return out;
}

class Builder {
 public:
  uint64_t string(const std::string& s) {
    auto [it, fresh] = strings_.emplace(s, strings_.size());
    if (fresh) table_.push_back(s);
    return it->second;
  }

  uint64_t function(const Frame& f) {
    auto [it, fresh] = functions_.emplace(std::make_pair(f.function, f.file), functions_.size() + 1);
    if (fresh) {
      Message m;
      m.varint(1, it->second);
      m.varint(2, string(f.function));
      m.varint(3, string(f.function));
      m.varint(4, string(f.file));
      body_.message(5, m);
    }
    return it->second;
  }

  uint64_t location(uintptr_t pc) {
    auto [it, fresh] = locations_.emplace(pc, locations_.size() + 1);
    if (!fresh) return it->second;
    Message m;
    m.varint(1, it->second);
    if (uint64_t mid = mapping_of(pc)) m.varint(2, mid);
    m.varint(3, pc);
    for (const Frame& f : symbolize(pc)) {  // innermost first
      Message line;
      line.varint(1, function(f));
      line.varint(2, uint64_t(f.line));
      m.message(4, line);
    }
    body_.message(4, m);
    return it->second;
  }

  void mappings() {
    maps_ = loaded_objects();
    for (std::size_t i = 0; i < maps_.size(); i++) {
      const Mapping& mp = maps_[i];
      Message m;
      m.varint(1, i + 1);
      m.varint(2, mp.start);
      m.varint(3, mp.limit);
      m.varint(4, mp.offset);
      m.varint(5, string(mp.file));
      m.varint(6, string(mp.build_id));
      for (int f = 7; f <= 10; f++) m.varint(f, 1);  // functions, files, lines, inlines
      body_.message(3, m);
    }
  }

  Message& body() { return body_; }
  const std::vector<std::string>& table() const { return table_; }

 private:
  uint64_t mapping_of(uintptr_t pc) const {
    for (std::size_t i = 0; i < maps_.size(); i++)
      if (pc >= maps_[i].start && pc < maps_[i].limit) return i + 1;
    return 0;
  }

  Message body_;
  std::vector<Mapping> maps_;
  std::map<std::string, uint64_t> strings_;
  std::vector<std::string> table_;
  std::map<std::pair<std::string, std::string>, uint64_t> functions_;
  std::map<uintptr_t, uint64_t> locations_;
};

std::string gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("stray::pprof: zlib deflateInit2 failed");
  std::string out(deflateBound(&z, uLong(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = uInt(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("stray::pprof: zlib deflate failed");
  return out;
}

}  // namespace

std::string encode_count_profile(const std::string& name, const std::vector<ProtoSample>& samples,
                                 int64_t time_nanos) {
  Builder b;
  b.string("");  // string_table[0]
  Message type;
  type.varint(1, b.string(name));
  type.varint(2, b.string("count"));
  b.body().message(1, type);
  b.mappings();
  for (const ProtoSample& s : samples) {
    Message m;
    std::vector<uint64_t> locs;
    for (uintptr_t pc : s.pcs) locs.push_back(b.location(pc));
    m.packed(1, locs);
    m.packed(2, {uint64_t(s.count)});
    for (const auto& [k, v] : s.labels) {
      Message label;
      label.varint(1, b.string(k));
      label.varint(2, b.string(v));
      m.message(3, label);
    }
    b.body().message(2, m);
  }
  b.body().varint(9, uint64_t(time_nanos));
  b.body().message(11, type);
  b.body().varint(12, 1);
  Message out = b.body();
  for (const std::string& s : b.table()) out.bytes(6, s);
  return gzip(out.str());
}

}  // namespace stray::rt
