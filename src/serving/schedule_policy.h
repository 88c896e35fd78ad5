// SchedulePolicy: the seam that decides, each engine step, how many prefill
// tokens join the decode tokens of the running sequences and which waiting
// request is admitted next, and may name a running sequence to give up its
// slot for fairness. The engine keeps the mechanics (KV blocks, preemption of
// the newest sequence when blocks run out, admission order of preempted
// requests); a policy only chooses amounts, order and the fairness victim.
//
// A new policy is one file implementing this interface plus one line in
// make_schedule_policy().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serving/serving_engine.h"

namespace tessera::serving {

// What a policy sees of a waiting request.
struct WaitingRequest {
  uint64_t arrival = 0;          // submission order (smaller = older)
  const std::string* user = nullptr;
  int64_t prefill_tokens = 0;    // tokens it must prefill
};

// What a policy sees of a running request.
struct RunningRequest {
  uint64_t admission = 0;  // admission order (larger = admitted later)
  const std::string* user = nullptr;
};

class SchedulePolicy {
 public:
  virtual ~SchedulePolicy() = default;
  virtual const char* name() const = 0;

  // Prefill tokens the next step may carry besides n_decode decode tokens;
  // the engine clamps the answer to [0, step_token_budget - n_decode].
  virtual int64_t prefill_budget(int64_t n_decode) = 0;
  // Index into `waiting` (non-empty, oldest first) of the request to admit next.
  virtual size_t pick_next(const std::vector<WaitingRequest>& waiting) = 0;
  // The request picked last was admitted (fairness bookkeeping).
  virtual void on_admit(const WaitingRequest& request) {}
  // Asked before a step when every sequence slot is taken and requests wait:
  // the index into `running` of a sequence to preempt so that a waiting
  // request can take its slot (it is re-queued behind the waiting ones and
  // recomputed later), or -1 for none. Default: never.
  virtual int64_t fairness_victim(const std::vector<RunningRequest>& running,
                                  const std::vector<WaitingRequest>& waiting) {
    return -1;
  }
  // A step ran n_tokens tokens (n_decode of them decode tokens) in `seconds`.
  virtual void on_step(int64_t n_tokens, int64_t n_decode, double seconds) {}
};

// Throws InvalidArgument naming the known policies for an unknown name.
std::unique_ptr<SchedulePolicy> make_schedule_policy(const ServingConfig& config);
std::vector<std::string> schedule_policy_names();

std::unique_ptr<SchedulePolicy> make_fcfs_policy(const ServingConfig& config);
std::unique_ptr<SchedulePolicy> make_fair_policy(const ServingConfig& config);

}  // namespace tessera::serving
