#include "serialization_id.h"

#include <array>
#include <cstdio>
#include <cstring>

namespace hermetic {
namespace {

constexpr uint64_t kMurmurMul = 0xc6a4a7935bd1e995ULL;
constexpr uint64_t kStringHashSeed = 0xc70f6907ULL;

uint64_t ShiftMix(uint64_t v) { return v ^ (v >> 47); }

// The bucket counts a libstdc++ unordered_set grows through as elements are
// inserted one at a time (max load factor 1, growth factor 2): it starts with
// one bucket, takes the first count at its first element, and the next one
// whenever an insertion would exceed the current count. Observed with
// std::__detail::_Prime_rehash_policy; past the last step (more records
// than any zip reader accepts) the table simply stops growing.
constexpr std::array<uint64_t, 29> kBucketCounts = {
    13,        29,        59,         127,        257,       541,
    1109,      2357,      5087,       10273,      20753,     42043,
    85229,     172933,    351061,     712697,     1447153,   2938679,
    5967347,   12117689,  24607243,   49969847,   101473717, 206062531,
    418451333, 849749479, 1725587117, 3504151727, 8589934583};

}  // namespace

uint64_t HashCombine(uint64_t seed, uint64_t value) {
  return seed ^ (value + 0x9e3779b9ULL + (seed << 6) + (seed >> 2));
}

uint64_t LibstdcxxStringHash(std::string_view bytes) {
  const size_t whole = bytes.size() & ~size_t{7};
  uint64_t hash = kStringHashSeed ^ (bytes.size() * kMurmurMul);
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, sizeof word);
    hash ^= ShiftMix(word * kMurmurMul) * kMurmurMul;
    hash *= kMurmurMul;
  }
  if (whole != bytes.size()) {
    // The tail is read as a little-endian number whatever the host.
    uint64_t tail = 0;
    for (size_t i = bytes.size(); i > whole; --i) {
      tail = (tail << 8) + static_cast<unsigned char>(bytes[i - 1]);
    }
    hash ^= tail;
    hash *= kMurmurMul;
  }
  return ShiftMix(ShiftMix(hash) * kMurmurMul);
}

SerializationIdHasher::SerializationIdHasher()
    : nodes_{Node{0, kNone}}, buckets_(1, kNone) {}

void SerializationIdHasher::Add(std::string_view name, uint64_t size,
                                uint32_t crc32) {
  if (size > 0) crc_hash_ = HashCombine(crc_hash_, crc32);
  const uint64_t elements = nodes_.size() - 1;
  const uint64_t limit =
      growth_step_ == 0 ? 0 : kBucketCounts[growth_step_ - 1];
  if (elements + 1 > limit && growth_step_ < kBucketCounts.size()) {
    Rehash(kBucketCounts[growth_step_++]);
  }
  nodes_.push_back(Node{LibstdcxxStringHash(name), kNone});
  Link(nodes_.size() - 1);
}

// A new node goes first in its bucket; into an empty bucket, first in the
// whole list, and the bucket that was first now starts after it.
void SerializationIdHasher::Link(uint64_t node) {
  const uint64_t bucket = nodes_[node].hash % buckets_.size();
  if (buckets_[bucket] != kNone) {
    Node& before = nodes_[buckets_[bucket]];
    nodes_[node].next = before.next;
    before.next = node;
    return;
  }
  nodes_[node].next = nodes_[0].next;
  nodes_[0].next = node;
  if (nodes_[node].next != kNone) {
    buckets_[nodes_[nodes_[node].next].hash % buckets_.size()] = node;
  }
  buckets_[bucket] = 0;
}

// Walks the old list in order, putting each node first in its new bucket,
// or first in the list when that bucket is still empty.
void SerializationIdHasher::Rehash(uint64_t bucket_count) {
  buckets_.assign(bucket_count, kNone);
  uint64_t node = nodes_[0].next;
  nodes_[0].next = kNone;
  uint64_t first_bucket = 0;
  while (node != kNone) {
    const uint64_t next = nodes_[node].next;
    const uint64_t bucket = nodes_[node].hash % bucket_count;
    if (buckets_[bucket] == kNone) {
      nodes_[node].next = nodes_[0].next;
      nodes_[0].next = node;
      buckets_[bucket] = 0;
      if (nodes_[node].next != kNone) buckets_[first_bucket] = node;
      first_bucket = bucket;
    } else {
      Node& before = nodes_[buckets_[bucket]];
      nodes_[node].next = before.next;
      before.next = node;
    }
    node = next;
  }
}

std::string SerializationIdHasher::Text() const {
  uint64_t name_hash = 0;
  for (uint64_t n = nodes_[0].next; n != kNone; n = nodes_[n].next) {
    name_hash = HashCombine(name_hash, nodes_[n].hash);
  }
  char text[41];
  std::snprintf(text, sizeof text, "%020llu%020llu",
                static_cast<unsigned long long>(name_hash),
                static_cast<unsigned long long>(crc_hash_));
  return text;
}

}  // namespace hermetic
