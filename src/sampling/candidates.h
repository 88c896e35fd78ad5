// The token-choice transforms, each a separate step over a list of candidate
// tokens so each can be tested (and reordered or replaced) on its own. The
// order Sampler applies them is llama.cpp's default chain: penalties on the
// raw logits, top-k, top-p, min-p, temperature, draw.
//
// Invariants: `size` candidates are alive (the first `size` entries of
// `items`); when `sorted` is true they are in descending logit order (ties by
// ascending id), otherwise in ascending id order, so every order is
// deterministic. Steps sort only when they need to (a full sort of a 262k
// vocabulary costs about as much as a decode step of a small model). None of these functions
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
// Fills c.probs[i] with the softmax probability of alive candidate i.
void softmax(Candidates& c);
// Keeps the smallest set of most likely tokens whose probability reaches p
// (at least one token) and leaves the list sorted; p >= 1: no-op.
// Probabilities are those at temperature 1, as in llama.cpp's chain.
void keep_top_p(Candidates& c, float p);
// Keeps tokens whose probability is at least min_p times the largest one
// (min_p <= 0: no-op); keeps the list's order.
void keep_min_p(Candidates& c, float min_p);
// Divides the alive logits by t (t > 0).
void apply_temperature(Candidates& c, float t);
// Draws one alive candidate with probability softmax(logit). Uses only
// rng's raw output (not a std distribution) so a seed gives the same tokens
// with every standard library.
int32_t draw(Candidates& c, std::mt19937& rng);

}  // namespace tessera
