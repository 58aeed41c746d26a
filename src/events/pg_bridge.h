// avow/events/pg_bridge.h — carries a node's wake-ups to the other nodes through PostgreSQL LISTEN/NOTIFY.
//
//   events::Hub hub;
//   events::PgBridge bridge(hub, {.url = config.database.url});   // starts its thread, connects in the background
//   // from now on hub.notify("challenge:…") also reaches the waiters of every other node
//   …
//   bridge.stop();                                                   // or let the destructor do it
//
// One dedicated connection per node (not one of the pool's), owned by the bridge's thread, which:
//  - LISTENs on the channel and hands every notification from another node to hub.notify_local();
//  - sends the topics the hub forwards (`SELECT pg_notify(channel, payload)`), batched, in order;
//  - after every (re)connect calls hub.notify_all(): notifications sent while it was cut off are lost, so every
//    waiter re-reads the state, which is the truth.
// The payload is "<node id> <topic>" and carries ids only (topics are "challenge:<id>", "device:<id>",
// "keys"); a node ignores its own notifications. Topics forwarded while the connection is down are kept (up to
// kMaxQueuedTopics, oldest dropped first) and sent after the reconnect, so a device's answer taken on this
// node still wakes a page waiting on another.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "events/hub.h"

namespace avow::events {

struct PgBridgeOptions {
  // libpq connection URI or key=value string (the database's URL). Never logged as given (it may hold a password).
  std::string url;
  // The LISTEN channel; nodes of one deployment must agree.
  std::string channel = "avow_events";  // PgBridge::kDefaultChannel
  // This node's id in payloads; random when empty.
  std::string node_id;
  // Back-off between reconnect attempts (doubles from min up to max).
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2000};
  // Called on the bridge's thread whenever the connection comes up (true) or is lost (false).
  std::function<void(bool connected)> on_connection;
  // Called on the bridge's thread with each topic that came from another node, after the hub was notified
  // (e.g. "keys": reload the key ring), and with "*" after every (re)connect, when anything may have been
  // missed. Must not block for long.
  std::function<void(std::string_view topic)> on_remote;
};

class PgBridge {
 public:
  // Installs itself as `hub`'s forwarder and starts its thread. `hub` must outlive the bridge.
  PgBridge(Hub& hub, PgBridgeOptions options);
  PgBridge(const PgBridge&) = delete;
  PgBridge& operator=(const PgBridge&) = delete;
  // stop().
  ~PgBridge();

  // Removes the forwarder, sends what is queued if connected, and ends the thread. Idempotent.
  void stop();

  // Whether the LISTEN connection is up now.
  bool connected() const { return connected_.load(std::memory_order_acquire); }

  // How many times the connection came up (1 after the first connect); a metric and a test hook.
  std::uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }

  // Notifications received from other nodes so far.
  std::uint64_t received() const { return received_.load(std::memory_order_relaxed); }

  const std::string& node_id() const { return options_.node_id; }

  // Sends one notification of `topic` to every node listening on `channel`, over a connection of its own
  // (opened and closed here, blocking): for a process that runs no bridge, such as `avowd keys rotate`, whose
  // change every running node must pick up now. The payload is "<sender> <topic>". kInvalidArgument for an
  // empty or oversized topic; kUnavailable when the database cannot be reached or refuses (the message never
  // holds the URL).
  static Status notify_once(const std::string& url, std::string_view topic, std::string_view sender = "cli",
                            std::string_view channel = kDefaultChannel);

  static constexpr std::string_view kDefaultChannel = "avow_events";

  static constexpr std::size_t kMaxQueuedTopics = 10000;
  static constexpr std::size_t kMaxTopicSize = 200;  // PostgreSQL's payload limit is 8000 bytes

 private:
  void enqueue(std::string_view topic);
  void run();
  void wake_thread();

  Hub& hub_;
  PgBridgeOptions options_;
  std::mutex mu_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  int wake_fd_ = -1;  // eventfd: the thread polls it beside the connection's socket
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> connects_{0};
  std::atomic<std::uint64_t> received_{0};
  std::thread thread_;
};

}  // namespace avow::events
