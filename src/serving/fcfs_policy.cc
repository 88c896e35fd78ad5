// First come, first served: the oldest waiting request is admitted first and
// prefill takes whatever the step's token budget leaves after decode tokens.
#include "serving/schedule_policy.h"

namespace tessera::serving {

namespace {

class FcfsPolicy : public SchedulePolicy {
 public:
  explicit FcfsPolicy(int64_t step_budget) : step_budget_(step_budget) {}
  const char* name() const override { return "fcfs"; }
  int64_t prefill_budget(int64_t n_decode) override { return step_budget_ - n_decode; }
  size_t pick_next(const std::vector<WaitingRequest>&) override { return 0; }

 private:
  int64_t step_budget_;
};

}  // namespace

std::unique_ptr<SchedulePolicy> make_fcfs_policy(const ServingConfig& config) {
  return std::make_unique<FcfsPolicy>(config.step_token_budget);
}

}  // namespace tessera::serving
