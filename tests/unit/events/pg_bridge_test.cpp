// PgBridge against a real PostgreSQL (the store suite's throw-away server, tests/unit/store/backends.h):
// two bridges stand for two nodes; each test uses its own channel so tests cannot hear each other.
#include "events/pg_bridge.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../store/backends.h"

namespace avow::events {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<bool> waiter(Hub* hub, std::string topic, std::chrono::milliseconds timeout,
                             std::promise<void>* subscribed) {
  auto sub = co_await hub->subscribe(std::move(topic));
  subscribed->set_value();
  co_return co_await sub.wait(timeout);
}

template <class F>
bool eventually(F&& condition, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

class PgBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = store::testing::SharedPostgres::instance().url();
    if (url_.empty()) {
      const std::string& why = store::testing::SharedPostgres::instance().skip_reason();
      if (store::testing::postgres_required()) FAIL() << "PostgreSQL is required: " << why;
      GTEST_SKIP() << "no PostgreSQL: " << why;
    }
    channel_ = "avow_test_" + random_token(6);
    for (auto& c : channel_) c = (c == '-') ? '_' : c;
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  void TearDown() override {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

  PgBridgeOptions options(std::string node, std::string url = {}) {
    PgBridgeOptions o;
    o.url = url.empty() ? url_ : url;
    o.channel = channel_;
    o.node_id = std::move(node);
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
  }

  std::future<bool> spawn_waiter(Hub& hub, std::string topic, std::chrono::milliseconds timeout,
                                 std::promise<void>* subscribed) {
    return asio::co_spawn(asio::make_strand(ioc_), waiter(&hub, std::move(topic), timeout, subscribed),
                          asio::use_future);
  }

  std::string url_, channel_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{asio::make_work_guard(ioc_)};
  std::vector<std::thread> threads_;
};

TEST_F(PgBridgeTest, ANotifyOnOneNodeWakesTheWaiterOnTheOther) {
  Hub hub_a, hub_b;
  PgBridge a(hub_a, options("node-a"));
  PgBridge b(hub_b, options("node-b"));
  ASSERT_TRUE(eventually([&] { return a.connected() && b.connected(); }));

  std::promise<void> subscribed;
  auto woken = spawn_waiter(hub_b, "challenge:42", 20s, &subscribed);
  subscribed.get_future().wait();
  EXPECT_EQ(hub_a.notify("challenge:42"), 0u);  // nobody waits on node A itself
  ASSERT_EQ(woken.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(woken.get());
  EXPECT_TRUE(eventually([&] { return b.received() == 1; }));
  EXPECT_EQ(a.received(), 0u);  // a node ignores its own notifications
}

TEST_F(PgBridgeTest, TopicsForwardedBeforeTheConnectionIsUpAreSentOnceItIs) {
  Hub hub_a, hub_b;
  std::mutex mu;
  std::vector<std::string> heard;
  PgBridgeOptions ob = options("node-b");
  ob.on_remote = [&](std::string_view topic) {
    std::lock_guard lock(mu);
    heard.emplace_back(topic);
  };
  PgBridge b(hub_b, ob);
  // b reports "*" for its own connect just after connected() turns true: wait for it, then forget it.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return b.connected() && !heard.empty();
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(heard, std::vector<std::string>{"*"});
    heard.clear();
  }
  PgBridge a(hub_a, options("node-a"));
  hub_a.notify("device:1");  // queued: a is most likely still connecting
  hub_a.notify("keys");
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return heard.size() >= 2;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(heard, (std::vector<std::string>{"device:1", "keys"}));  // in order, each once
}

TEST_F(PgBridgeTest, AfterTheConnectionIsCutItReconnectsAndEveryWaiterReChecks) {
  Hub hub;
  const std::string app = "avow_bridge_" + channel_;
  const std::string url = url_ + (url_.find('?') == std::string::npos ? "?" : "&") + "application_name=" + app;
  PgBridge bridge(hub, options("node-a", url));
  ASSERT_TRUE(eventually([&] { return bridge.connected(); }));
  EXPECT_EQ(bridge.connects(), 1u);

  std::promise<void> subscribed;
  auto woken = spawn_waiter(hub, "challenge:7", 20s, &subscribed);
  subscribed.get_future().wait();
  // The database ends the bridge's session, as a restart or a failover would.
  store::testing::pg_admin(
      url_, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + app + "'");
  ASSERT_TRUE(eventually([&] { return bridge.connects() == 2 && bridge.connected(); }));
  // Nothing was sent on the topic, but a notification may have been lost meanwhile: the waiter re-checks.
  ASSERT_EQ(woken.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(woken.get());
}

TEST_F(PgBridgeTest, StopRemovesTheForwarderAndIsIdempotent) {
  Hub hub;
  auto bridge = std::make_unique<PgBridge>(hub, options("node-a"));
  ASSERT_TRUE(eventually([&] { return bridge->connected(); }));
  bridge->stop();
  EXPECT_FALSE(bridge->connected());
  bridge->stop();
  EXPECT_EQ(hub.notify("challenge:1"), 0u);  // no forwarder left behind to call into a stopped bridge
  bridge.reset();
  EXPECT_EQ(hub.notify("challenge:1"), 0u);
}

}  // namespace
}  // namespace avow::events
