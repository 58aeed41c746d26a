#include "events/hub.h"

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

namespace avow::events {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Subscribes, signals `subscribed`, then waits; returns whether it was woken.
asio::awaitable<bool> waiter(Hub* hub, std::string topic, std::chrono::milliseconds timeout,
                             std::promise<void>* subscribed) {
  auto sub = co_await hub->subscribe(std::move(topic));
  subscribed->set_value();
  co_return co_await sub.wait(timeout);
}

class HubTest : public ::testing::Test {
 protected:
  HubTest() : work_(asio::make_work_guard(ioc_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~HubTest() override {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  std::future<bool> spawn_waiter(std::string topic, std::chrono::milliseconds timeout, std::promise<void>* subscribed) {
    return asio::co_spawn(asio::make_strand(ioc_), waiter(&hub_, std::move(topic), timeout, subscribed),
                          asio::use_future);
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  Hub hub_;
};

TEST_F(HubTest, NotifyFromAnotherThreadWakesTheWaiter) {
  std::promise<void> subscribed;
  auto woken = spawn_waiter("challenge:1", 10s, &subscribed);
  subscribed.get_future().wait();
  EXPECT_EQ(hub_.subscribers(), 1u);
  std::thread([this] { EXPECT_EQ(hub_.notify("challenge:1"), 1u); }).join();
  ASSERT_EQ(woken.wait_for(5s), std::future_status::ready);  // far below the 10 s timeout
  EXPECT_TRUE(woken.get());
}

TEST_F(HubTest, TimesOutWithoutANotification) {
  std::promise<void> subscribed;
  auto woken = spawn_waiter("challenge:2", 50ms, &subscribed);
  subscribed.get_future().wait();
  EXPECT_EQ(hub_.notify("challenge:other"), 0u);
  EXPECT_FALSE(woken.get());
  EXPECT_EQ(hub_.subscribers(), 0u);  // the subscription ended with the coroutine
}

asio::awaitable<bool> notified_before_wait(Hub* hub) {
  auto sub = co_await hub->subscribe("challenge:3");
  hub->notify("challenge:3");  // lands between subscribe and wait: must not be lost
  co_return co_await sub.wait(10s);
}

TEST_F(HubTest, ANotificationBeforeTheWaitIsNotLost) {
  auto woken = asio::co_spawn(asio::make_strand(ioc_), notified_before_wait(&hub_), asio::use_future);
  ASSERT_EQ(woken.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(woken.get());
}

TEST_F(HubTest, WakesEverySubscriberOfTheTopicOnly) {
  std::promise<void> s1, s2, s3;
  auto a = spawn_waiter("t", 10s, &s1);
  auto b = spawn_waiter("t", 10s, &s2);
  auto c = spawn_waiter("u", 200ms, &s3);
  s1.get_future().wait();
  s2.get_future().wait();
  s3.get_future().wait();
  EXPECT_EQ(hub_.notify("t"), 2u);
  EXPECT_TRUE(a.get());
  EXPECT_TRUE(b.get());
  EXPECT_FALSE(c.get());
}

asio::awaitable<int> wait_twice(Hub* hub) {
  auto sub = co_await hub->subscribe("again");
  hub->notify("again");
  int woken = co_await sub.wait(10s) ? 1 : 0;
  woken += co_await sub.wait(50ms) ? 1 : 0;  // the first notification was consumed
  co_return woken;
}

TEST_F(HubTest, EachWaitConsumesTheNotificationsSoFar) {
  auto n = asio::co_spawn(asio::make_strand(ioc_), wait_twice(&hub_), asio::use_future);
  EXPECT_EQ(n.get(), 1);
}

TEST_F(HubTest, NotifyHandsTheTopicToTheForwarderButNotifyLocalDoesNot) {
  std::vector<std::string> forwarded;
  std::mutex mu;
  hub_.set_forwarder([&](std::string_view topic) {
    std::lock_guard lock(mu);
    forwarded.emplace_back(topic);
  });
  std::promise<void> subscribed;
  auto woken = spawn_waiter("challenge:7", 10s, &subscribed);
  subscribed.get_future().wait();
  EXPECT_EQ(hub_.notify_local("challenge:7"), 1u);  // from another node: woken here, not sent back out
  ASSERT_EQ(woken.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(woken.get());
  EXPECT_EQ(hub_.notify("device:3"), 0u);  // nobody waits here, but other nodes may
  hub_.set_forwarder({});
  EXPECT_EQ(hub_.notify("device:4"), 0u);
  std::lock_guard lock(mu);
  EXPECT_EQ(forwarded, std::vector<std::string>{"device:3"});
}

TEST_F(HubTest, NotifyAllWakesEveryWaiterOfEveryTopic) {
  std::promise<void> s1, s2;
  auto a = spawn_waiter("challenge:a", 10s, &s1);
  auto b = spawn_waiter("device:b", 10s, &s2);
  s1.get_future().wait();
  s2.get_future().wait();
  EXPECT_EQ(hub_.notify_all(), 2u);
  ASSERT_EQ(a.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(b.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(a.get());
  EXPECT_TRUE(b.get());
}

}  // namespace
}  // namespace avow::events
