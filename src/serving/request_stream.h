// The two ends of one request's event stream. The engine thread writes
// events into a StreamChannel; the HTTP thread reads them through the
// RequestStream handle returned by submit(). Dropping the handle (the client
// went away) cancels the request, as cancel() does.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "serving/serving_engine.h"

namespace tessera::serving {

class StreamChannel {
 public:
  explicit StreamChannel(uint64_t id) : id_(id) {}

  uint64_t id() const { return id_; }
  // Engine side. push() after the done event is ignored.
  void push(StreamEvent event);
  bool cancel_requested() const { return cancelled_.load(std::memory_order_acquire); }

  // Reader side.
  std::optional<StreamEvent> next(std::chrono::milliseconds timeout);
  void request_cancel() { cancelled_.store(true, std::memory_order_release); }

 private:
  const uint64_t id_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEvent> events_;
  bool done_pushed_ = false;  // the done event was queued
  bool done_taken_ = false;   // ... and read
};

// What submit() returns: reads the channel, cancels on cancel() or when the
// last reference goes away.
class StreamHandle : public RequestStream {
 public:
  explicit StreamHandle(std::shared_ptr<StreamChannel> channel) : channel_(std::move(channel)) {}
  ~StreamHandle() override { channel_->request_cancel(); }

  std::optional<StreamEvent> next(std::chrono::milliseconds timeout) override { return channel_->next(timeout); }
  void cancel() override { channel_->request_cancel(); }
  uint64_t id() const override { return channel_->id(); }

 private:
  std::shared_ptr<StreamChannel> channel_;
};

}  // namespace tessera::serving
