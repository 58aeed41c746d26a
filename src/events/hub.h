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
//
// Many nodes: a hub only knows its own process's waiters. A cluster bridge (events/pg_bridge.h) installs a
// forwarder that carries every local notify() to the other nodes and calls notify_local() with theirs; when
// the bridge has been cut off (notifications sent meanwhile are lost) it calls notify_all(), so every waiter
// re-reads its state.
#pragma once

#include <utility>  // before Asio: asio#944

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
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

  // Wakes every subscriber of `topic` here and hands the topic to the forwarder (other nodes), if one is
  // set. Thread-safe, never blocks on a waiter. Returns how many local subscribers were woken.
  std::size_t notify(std::string_view topic);

  // Wakes the local subscribers of `topic` only: for notifications that came from another node.
  std::size_t notify_local(std::string_view topic);

  // Wakes every local subscriber of every topic: after a gap in which notifications may have been lost.
  std::size_t notify_all();

  // Installs (or, with an empty function, removes) the function notify() hands each topic to. It runs on
  // the notifying thread, so it must only queue. Set it before the server starts serving.
  using Forwarder = std::function<void(std::string_view topic)>;
  void set_forwarder(Forwarder forwarder);

  // How many subscriptions are open (a metric; the idle-connection benchmark reads it).
  std::size_t subscribers() const { return count_.load(std::memory_order_relaxed); }

 private:
  friend class Subscription;
  void unsubscribe(const std::string& topic, const Subscription::State* state);
  // Posts a wake-up to each of `states`; call with `mu_` held.
  static void wake(const std::vector<std::shared_ptr<Subscription::State>>& states);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Subscription::State>>> topics_;
  std::atomic<std::size_t> count_{0};
  std::mutex forwarder_mu_;
  std::shared_ptr<const Forwarder> forwarder_;
};

}  // namespace avow::events
