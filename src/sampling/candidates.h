// The token-choice transforms, each a separate step over a list of candidate
// tokens so each can be tested (and reordered or replaced) on its own. The
// order Sampler applies them is llama.cpp's default chain: penalties on the
// raw logits, top-k, top-p, min-p, temperature, draw.
//
// Invariants: `size` candidates are alive (the first `size` entries of
// `items`); when `sorted` is true they are in descending logit order (ties by
// ascending id, so the order is deterministic). None of these functions
// allocates once `items` and `probs` have reached the vocabulary size, so
// they may run in the decode loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace tessera {

struct Candidate {
  int32_t id;
  float logit;
};

struct Candidates {
  std::vector<Candidate> items;
  std::vector<double> probs;  // softmax of the alive logits, filled by softmax()
  size_t size = 0;
  bool sorted = false;

  // All n_vocab tokens alive, unsorted.
  void fill(const float* logits, int64_t n_vocab);
};

// Keeps the k most likely candidates (k <= 0 or k >= size: no-op, but the
// list ends up sorted either way, as the later cuts need).
void keep_top_k(Candidates& c, int k);
// Fills c.probs with the softmax of the alive logits (sorts first).
void softmax(Candidates& c);
// Keeps the smallest prefix whose probability reaches p (at least one token);
// p >= 1: no-op. Probabilities are those at temperature 1, as in llama.cpp.
void keep_top_p(Candidates& c, float p);
// Keeps tokens whose probability is at least min_p times the largest one
// (min_p <= 0: no-op).
void keep_min_p(Candidates& c, float min_p);
// Divides the alive logits by t (t > 0).
void apply_temperature(Candidates& c, float t);
// Draws one alive candidate with probability softmax(logit). Uses only
// rng's raw output (not a std distribution) so a seed gives the same tokens
// with every standard library.
int32_t draw(Candidates& c, std::mt19937& rng);

}  // namespace tessera
