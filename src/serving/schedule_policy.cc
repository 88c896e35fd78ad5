#include "serving/schedule_policy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace tessera::serving {

std::vector<std::string> schedule_policy_names() { return {"fcfs", "fair"}; }

std::unique_ptr<SchedulePolicy> make_schedule_policy(const ServingConfig& config) {
  if (config.policy == "fcfs") return make_fcfs_policy(config);
  if (config.policy == "fair") return make_fair_policy(config);
  raise<InvalidArgument>("unknown scheduling policy '{}' (known: {})", config.policy,
                         fmt::join(schedule_policy_names(), ", "));
}

}  // namespace tessera::serving
