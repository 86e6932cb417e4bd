// The ".data/serialization_id" record torch 2.13's PyTorchStreamWriter
// appends to every archive (docs/format.md section 2, "Framework records"),
// reproduced from observation of the archives it writes:
//
//   id = decimal(name_hash, 20 digits, zero-padded)
//      + decimal(crc_hash, 20 digits, zero-padded)
//
// crc_hash folds the CRC-32 (as written: 0 without compute_crc32) of every
// non-empty record, in write order, with HashCombine. name_hash folds the
// libstdc++ std::hash of every record name (without the top-level folder),
// in the order a libstdc++ std::unordered_set<std::string> holding those
// names, inserted in write order, iterates them. Both are pure functions of
// the names and bytes written, so the id is the same in every process;
// nothing here depends on the standard library hermetic is built with.
#ifndef HERMETIC_SRC_ARCHIVE_SERIALIZATION_ID_H_
#define HERMETIC_SRC_ARCHIVE_SERIALIZATION_ID_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hermetic {

// seed ^ (value + 0x9e3779b9 + (seed << 6) + (seed >> 2)), on 64 bits.
uint64_t HashCombine(uint64_t seed, uint64_t value);

// libstdc++'s std::hash<std::string> on a 64-bit target: its MurmurHash2
// variant (_Hash_bytes with seed 0xc70f6907), words loaded in host order.
uint64_t LibstdcxxStringHash(std::string_view bytes);

class SerializationIdHasher {
 public:
  SerializationIdHasher();

  // One record as it is written; names are unique (the writer checks).
  void Add(std::string_view name, uint64_t size, uint32_t crc32);
  // The 40-digit id of the records added so far.
  std::string Text() const;

 private:
  static constexpr uint64_t kNone = UINT64_MAX;
  struct Node {
    uint64_t hash;
    uint64_t next;
  };

  // The libstdc++ hash table's node list: buckets_[b] is the node before
  // bucket b's first node (node 0 is the list head), or kNone.
  void Rehash(uint64_t bucket_count);
  void Link(uint64_t node);

  std::vector<Node> nodes_;
  std::vector<uint64_t> buckets_;
  size_t growth_step_ = 0;
  uint64_t crc_hash_ = 0;
};

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_SERIALIZATION_ID_H_
