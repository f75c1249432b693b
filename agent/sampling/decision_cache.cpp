#include "sampling/decision_cache.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace tailgate::sampling {
namespace {

constexpr std::uint32_t kPolicyMask = 0xF;
constexpr std::uint32_t kKeptBit = 0x10;
constexpr int kFingerprintShift = 5;

struct Slots {
  std::size_t first, second;
  std::uint32_t fingerprint;  ///< already shifted into place, never 0
};

// Trace ids are random already, but not necessarily in every byte (64-bit Jaeger ids are
// zero-padded), so both halves are mixed (splitmix64's finaliser).
std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

Slots slots_of(const model::TraceId& id, std::size_t buckets) noexcept {
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, id.data(), 8);
  std::memcpy(&lo, id.data() + 8, 8);
  const std::uint64_t h1 = mix(hi ^ mix(lo));
  const std::uint64_t h2 = mix(h1 + 0x9e3779b97f4a7c15ULL);
  auto fp = static_cast<std::uint32_t>(h2 >> 37);  // 27 bits
  if (fp == 0) fp = 1;
  // A bucket from each hash by multiply-and-shift (Lemire's range reduction): the same spread as
  // a modulo without its division, three times per span in the pipeline's hot loop.
  // The second bucket from h2's low 32 bits, apart from the fingerprint's (its top 27).
  __extension__ using u128 = unsigned __int128;
  return {static_cast<std::size_t>((static_cast<u128>(h1) * buckets) >> 64),
          static_cast<std::size_t>(((h2 & 0xFFFFFFFF) * static_cast<std::uint64_t>(buckets)) >> 32),
          fp << kFingerprintShift};
}

std::size_t used(const std::array<std::uint32_t, 8>& b) noexcept {
  return static_cast<std::size_t>(std::count_if(b.begin(), b.end(), [](auto v) { return v != 0; }));
}

}  // namespace

DecisionCache::DecisionCache(std::size_t entries)
    : buckets_(std::max<std::size_t>(1, (entries + kSlots - 1) / kSlots)) {}

void DecisionCache::record(const model::TraceId& id, Entry decision) noexcept {
  assert(decision.policy <= kMaxPolicies);
  const auto s = slots_of(id, buckets_.size());
  const std::uint32_t value =
      s.fingerprint | (decision.kept ? kKeptBit : 0) | (decision.policy & kPolicyMask);
  auto& a = buckets_[s.first];
  auto& b = buckets_[s.second];
  auto& bucket = used(a) <= used(b) ? a : b;
  // Shift right by one (the oldest falls off the end when full) and put the newest first.
  std::move_backward(bucket.begin(), bucket.end() - 1, bucket.end());
  bucket[0] = value;
}

void DecisionCache::overwrite(const model::TraceId& id, Entry decision) noexcept {
  assert(decision.policy <= kMaxPolicies);
  const auto s = slots_of(id, buckets_.size());
  const std::uint32_t value =
      s.fingerprint | (decision.kept ? kKeptBit : 0) | (decision.policy & kPolicyMask);
  for (const auto index : {s.first, s.second}) {
    for (auto& v : buckets_[index]) {
      if (v != 0 && (v & ~(kKeptBit | kPolicyMask)) == s.fingerprint) {
        v = value;
        return;
      }
    }
  }
  record(id, decision);
}

void DecisionCache::prefetch(const model::TraceId& id) const noexcept {
  const auto s = slots_of(id, buckets_.size());
  __builtin_prefetch(&buckets_[s.first]);
  __builtin_prefetch(&buckets_[s.second]);
}

std::optional<DecisionCache::Entry> DecisionCache::find(const model::TraceId& id) const noexcept {
  const auto s = slots_of(id, buckets_.size());
  for (const auto index : {s.first, s.second}) {
    for (const auto v : buckets_[index]) {
      if (v != 0 && (v & ~(kKeptBit | kPolicyMask)) == s.fingerprint) {
        return Entry{(v & kKeptBit) != 0, static_cast<std::uint8_t>(v & kPolicyMask)};
      }
    }
  }
  return std::nullopt;
}

}  // namespace tailgate::sampling
