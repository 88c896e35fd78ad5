// Latency-controlled, fair policy.
//
// Latency: prefill chunks are sized so that a step carrying them stays within
// the time-per-output-token target of the streams decoding in it. Decode and
// prefill tokens are modelled apart, because on a CPU they cost differently:
// a decode-only step is mostly reading the weights, shared by its streams (on
// the 2-core machine 7 streams of a 1.1B model step in ~80 ms against ~50 ms
// for one), while each prefill token adds its full compute. So
// decode-only steps fit a step-time model (fixed + per_token * n), mixed
// steps measure what one prefill token adds on top of it, and a step may carry
// (target - predicted decode step) / prefill-token cost prefill tokens —
// never below a minimum chunk so prompts still progress. Until both are
// measured, one model over all steps (or a small cold chunk) stands in.
// The target is ServingConfig::target_tpot_ms, or (when 0) 1.25x the
// predicted time of a decode-only step of the current size.
//
// Fairness: admission is round-robin over `user` keys. The waiting request
// admitted next is the oldest of the user admitted least recently, so a burst
// of one user's requests waits behind one request of every other user. And
// when one user's burst already holds every sequence slot, a user with
// nothing running does not wait for one of those to finish: the newest
// sequence of the user holding the most slots (at least two, so no user is
// ever left with none) is preempted and recomputed later, and the newcomer
// takes its slot. Only a user with nothing running triggers it, so it cannot
// ping-pong: the preempted user keeps a running sequence.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "serving/schedule_policy.h"
#include "serving/step_time_model.h"

namespace tessera::serving {

namespace {

// Prefill tokens a step always may carry, so prompts progress even when the
// target leaves no room. One: on a 2-core CPU one prefill token of a 1.1B
// model costs 15-20 ms against a 7-stream decode step of ~100 ms, so a chunk
// of 4 alone broke a 1.5x TPOT bound (measured, docs/performance.md).
constexpr int64_t kMinChunk = 1;
constexpr int64_t kColdChunk = 16;     // before the step-time model is fitted
constexpr size_t kMaxUsers = 4096;     // users remembered for the rotation
constexpr double kDerivedSlack = 1.25;  // derived target = slack x decode-only step
constexpr double kPrefillCostDecay = 0.8;  // weight kept by the older prefill-token cost

class FairPolicy : public SchedulePolicy {
 public:
  explicit FairPolicy(const ServingConfig& c) : step_budget_(c.step_token_budget), target_s_(c.target_tpot_ms / 1e3) {}
  const char* name() const override { return "fair"; }

  int64_t prefill_budget(int64_t n_decode) override {
    const int64_t full = step_budget_ - n_decode;
    if (n_decode == 0) return full;  // nobody is streaming: no latency to protect
    if (decode_model_.ready() && prefill_token_s_ > 0) {
      const double decode_step = decode_model_.predict(n_decode);
      const double target = target_s_ > 0 ? target_s_ : kDerivedSlack * decode_step;
      const double room = std::floor((target - decode_step) / prefill_token_s_);
      const int64_t budget = room < static_cast<double>(full) ? static_cast<int64_t>(std::max(0.0, room)) : full;
      return std::clamp(budget, std::min(full, kMinChunk), full);
    }
    if (!model_.ready()) return std::min(full, kColdChunk);
    const double target = target_s_ > 0 ? target_s_ : kDerivedSlack * model_.predict(n_decode);
    const double per_token = model_.per_token_s();
    int64_t total = full + n_decode;
    if (per_token > 0) {
      const double fit = std::floor((target - model_.fixed_s()) / per_token);
      total = fit < static_cast<double>(total) ? static_cast<int64_t>(std::max(0.0, fit)) : total;
    }
    return std::clamp(total - n_decode, std::min(full, kMinChunk), full);
  }

  size_t pick_next(const std::vector<WaitingRequest>& waiting) override {
    size_t best = 0;
    int64_t best_turn = turn_of(*waiting[0].user);
    for (size_t i = 1; i < waiting.size(); ++i) {
      const int64_t turn = turn_of(*waiting[i].user);
      // Strictly less: among one user's requests the oldest (first) wins.
      if (turn < best_turn) {
        best = i;
        best_turn = turn;
      }
    }
    return best;
  }

  void on_admit(const WaitingRequest& request) override {
    // Bounded memory against clients inventing user names: forgetting the
    // history only restarts the rotation.
    if (last_admitted_.size() >= kMaxUsers) last_admitted_.clear();
    last_admitted_[*request.user] = ++admissions_;
  }

  int64_t fairness_victim(const std::vector<RunningRequest>& running,
                          const std::vector<WaitingRequest>& waiting) override {
    std::unordered_map<std::string, int64_t> slots;
    for (const RunningRequest& r : running) ++slots[*r.user];
    const bool unserved_waiting = std::any_of(waiting.begin(), waiting.end(), [&](const WaitingRequest& w) {
      return slots.find(*w.user) == slots.end();
    });
    if (!unserved_waiting) return -1;
    int64_t victim = -1;
    for (size_t i = 0; i < running.size(); ++i) {
      const int64_t held = slots[*running[i].user];
      if (held < 2) continue;
      const int64_t best = victim < 0 ? 0 : slots[*running[victim].user];
      if (held > best || (held == best && running[i].admission > running[victim].admission)) {
        victim = static_cast<int64_t>(i);
      }
    }
    return victim;
  }

  void on_step(int64_t n_tokens, int64_t n_decode, double seconds) override {
    model_.observe(n_tokens, seconds);
    const int64_t n_prefill = n_tokens - n_decode;
    if (n_prefill == 0) {
      decode_model_.observe(n_decode, seconds);
    } else if (n_decode > 0 && decode_model_.ready()) {
      const double cost = std::max(0.0, seconds - decode_model_.predict(n_decode)) / static_cast<double>(n_prefill);
      prefill_token_s_ =
          prefill_token_s_ > 0 ? kPrefillCostDecay * prefill_token_s_ + (1 - kPrefillCostDecay) * cost : cost;
    }
  }

 private:
  // When the user was last admitted (0 = never): smaller goes first.
  int64_t turn_of(const std::string& user) const {
    const auto it = last_admitted_.find(user);
    return it == last_admitted_.end() ? 0 : it->second;
  }

  int64_t step_budget_;
  double target_s_;
  StepTimeModel model_;         // every step
  StepTimeModel decode_model_;  // decode-only steps
  double prefill_token_s_ = 0;  // what one prefill token adds to a step (0: not measured yet)
  int64_t admissions_ = 0;
  std::unordered_map<std::string, int64_t> last_admitted_;
};

}  // namespace

std::unique_ptr<SchedulePolicy> make_fair_policy(const ServingConfig& config) {
  return std::make_unique<FairPolicy>(config);
}

}  // namespace tessera::serving
