#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>

namespace tessera {

namespace {

bool higher(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

void sort_alive(Candidates& c) {
  if (c.sorted) return;
  std::sort(c.items.begin(), c.items.begin() + static_cast<std::ptrdiff_t>(c.size), higher);
  c.sorted = true;
}

}  // namespace

void Candidates::fill(const float* logits, int64_t n_vocab) {
  items.resize(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) items[static_cast<size_t>(i)] = {static_cast<int32_t>(i), logits[i]};
  size = static_cast<size_t>(n_vocab);
  sorted = false;
}

void keep_top_k(Candidates& c, int k) {
  if (k <= 0 || static_cast<size_t>(k) >= c.size) {
    sort_alive(c);
    return;
  }
  if (!c.sorted) {
    const auto mid = c.items.begin() + k;
    std::partial_sort(c.items.begin(), mid, c.items.begin() + static_cast<std::ptrdiff_t>(c.size), higher);
    c.sorted = true;
  }
  c.size = static_cast<size_t>(k);
}

void softmax(Candidates& c) {
  c.probs.resize(c.items.size());
  if (c.size == 0) return;
  float max_logit = c.items[0].logit;
  for (size_t i = 1; i < c.size; ++i) max_logit = std::max(max_logit, c.items[i].logit);
  double sum = 0;
  for (size_t i = 0; i < c.size; ++i) sum += c.probs[i] = std::exp(static_cast<double>(c.items[i].logit) - max_logit);
  for (size_t i = 0; i < c.size; ++i) c.probs[i] /= sum;
}

void keep_top_p(Candidates& c, float p) {
  if (p >= 1.0f || c.size <= 1) return;
  if (!c.sorted) {
    // Usually a few hundred tokens reach p: sort those first and fall back to
    // a full sort only when they do not. Probabilities need the normaliser
    // over all candidates, which does not depend on the order.
    const size_t head = std::min<size_t>(c.size, 1024);
    std::partial_sort(c.items.begin(), c.items.begin() + static_cast<std::ptrdiff_t>(head),
                      c.items.begin() + static_cast<std::ptrdiff_t>(c.size), higher);
    softmax(c);
    double cumulative = 0;
    for (size_t i = 0; i < head; ++i) {
      cumulative += c.probs[i];
      if (cumulative >= p) {
        c.size = i + 1;
        c.sorted = true;
        return;
      }
    }
    sort_alive(c);
  }
  softmax(c);
  double cumulative = 0;
  for (size_t i = 0; i < c.size; ++i) {
    cumulative += c.probs[i];
    if (cumulative >= p) {
      c.size = i + 1;
      return;
    }
  }
}

void keep_min_p(Candidates& c, float min_p) {
  if (min_p <= 0.0f || c.size <= 1) return;
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p): no softmax
  // and, on an unsorted list, no sort either (survivors keep their order).
  const double log_min_p = std::log(static_cast<double>(min_p));
  if (c.sorted) {
    const double floor = c.items[0].logit + log_min_p;
    size_t keep = 1;
    while (keep < c.size && c.items[keep].logit >= floor) ++keep;
    c.size = keep;
    return;
  }
  float max_logit = c.items[0].logit;
  for (size_t i = 1; i < c.size; ++i) max_logit = std::max(max_logit, c.items[i].logit);
  const double floor = max_logit + log_min_p;
  size_t keep = 0;
  for (size_t i = 0; i < c.size; ++i) {
    if (c.items[i].logit >= floor) c.items[keep++] = c.items[i];
  }
  c.size = keep;
}

void apply_temperature(Candidates& c, float t) {
  for (size_t i = 0; i < c.size; ++i) c.items[i].logit /= t;
}

int32_t draw(Candidates& c, std::mt19937& rng) {
  softmax(c);  // in the list's current order: sorted or by id, both deterministic
  // A uniform double in [0, 1) with 53 random bits from two outputs (the
  // reference MT19937 genrand_res53), then the inverse CDF over the
  // candidates in their deterministic sorted order.
  const double high = static_cast<double>(rng() >> 5);
  const double low = static_cast<double>(rng() >> 6);
  const double u = (high * 67108864.0 + low) / 9007199254740992.0;
  double cumulative = 0;
  for (size_t i = 0; i < c.size; ++i) {
    cumulative += c.probs[i];
    if (u < cumulative) return c.items[i].id;
  }
  return c.items[c.size - 1].id;  // rounding left u just above the last sum
}

}  // namespace tessera
