#include "serving/request_stream.h"

namespace tessera::serving {

void StreamChannel::push(StreamEvent event) {
  {
    std::lock_guard lock(mutex_);
    if (done_pushed_) return;
    done_pushed_ = event.done;
    events_.push_back(std::move(event));
  }
  ready_.notify_all();
}

std::optional<StreamEvent> StreamChannel::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (done_taken_) return std::nullopt;
  if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  StreamEvent event = std::move(events_.front());
  events_.pop_front();
  if (event.done) done_taken_ = true;
  return event;
}

}  // namespace tessera::serving
