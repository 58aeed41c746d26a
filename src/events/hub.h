// avow/events/hub.h — wake-ups for waiters: a page waiting for its challenge's answer, a device waiting
// for its next push.
//
// A waiter subscribes BEFORE it checks the state it waits on, so a notify that lands between the check and
// the wait is never lost:
//
//   auto sub = hub.subscribe("challenge:" + id);            // 1. register
//   if (already_decided(id)) co_return finish();             // 2. check (database, off the loop)
//   bool woken = co_await sub.wait(std::chrono::seconds(25)); // 3. wait: true = notified, false = timeout
//
// `notify(topic)` may be called from any thread (a device's answer on another connection, a PostgreSQL
// NOTIFY bridge); it wakes every current subscriber of the topic on its own executor. A notification
// carries no data: waiters re-read the state, which is the truth (and which survives a node's restart).
// Subscriptions end when the `Subscription` is destroyed, which must happen before the io_context of the
// executor it was made on goes away (notifications are delivered on that executor). Waiting holds one
// timer and no thread.
#pragma once

#include <utility>  // before Asio: asio#944

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace avow::events {

class Hub;

// One waiter's registration on one topic. Move-only; unsubscribes on destruction.
class Subscription {
 public:
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) = delete;
  Subscription(const Subscription&) = delete;
  ~Subscription();

  // Suspends until a notify() of the topic since subscribe() (returns true; immediately if one already
  // came) or until `timeout` passes (returns false). May be called again after it returns; each call
  // consumes the notifications received so far.
  boost::asio::awaitable<bool> wait(std::chrono::milliseconds timeout);

  // Whether a notification has arrived and not been consumed by wait().
  bool notified() const;

 private:
  friend class Hub;
  struct State;
  Subscription(Hub* hub, std::string topic, std::shared_ptr<State> state);

  Hub* hub_;
  std::string topic_;
  std::shared_ptr<State> state_;
};

class Hub {
 public:
  Hub() = default;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Registers the calling coroutine's executor as a waiter on `topic`. Call from inside a coroutine
  // running on the executor that will wait (the connection's strand).
  boost::asio::awaitable<Subscription> subscribe(std::string topic);

  // Wakes every subscriber of `topic`. Thread-safe, never blocks on a waiter. Returns how many were woken.
  std::size_t notify(std::string_view topic);

  // How many subscriptions are open (a metric; the idle-connection benchmark reads it).
  std::size_t subscribers() const { return count_.load(std::memory_order_relaxed); }

 private:
  friend class Subscription;
  void unsubscribe(const std::string& topic, const Subscription::State* state);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Subscription::State>>> topics_;
  std::atomic<std::size_t> count_{0};
};

}  // namespace avow::events
