#include "push/sender.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace avow::push {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class RecordingSender : public Sender {
 public:
  RecordingSender(store::PushPlatform p, bool up) : platform_(p), up_(up) {}
  store::PushPlatform platform() const override { return platform_; }
  Status send(const PushMessage& m) override {
    sent.push_back(m);
    if (!up_) return fail(ErrorCode::kUnavailable, "provider down");
    return ok();
  }
  std::vector<PushMessage> sent;

 private:
  store::PushPlatform platform_;
  bool up_;
};

asio::awaitable<bool> wait_for_push(events::Hub* hub, Dispatcher* push, PushMessage m) {
  auto sub = co_await hub->subscribe("device:" + m.device_id);
  EXPECT_TRUE(push->send(m));
  co_return co_await sub.wait(5s);
}

TEST(Dispatcher, TheBuiltinChannelWakesTheDevicesLongPoll) {
  asio::io_context ioc;
  events::Hub hub;
  Dispatcher push(hub);
  auto woken =
      asio::co_spawn(ioc, wait_for_push(&hub, &push, {.device_id = "d1", .challenge_id = "c1"}), asio::use_future);
  ioc.run();
  EXPECT_TRUE(woken.get());
}

TEST(Dispatcher, AProviderGetsItsDevicesAndItsOutageDoesNotStopTheSignIn) {
  events::Hub hub;
  Dispatcher push(hub);
  auto apns = std::make_unique<RecordingSender>(store::PushPlatform::kApns, /*up=*/false);
  RecordingSender* apns_seen = apns.get();
  ASSERT_TRUE(push.add(std::move(apns)));
  EXPECT_TRUE(
      push.send({.device_id = "d1", .platform = store::PushPlatform::kApns, .token = "t", .challenge_id = "c"}));
  EXPECT_TRUE(push.send({.device_id = "d2", .platform = store::PushPlatform::kFcm, .token = "t", .challenge_id = "c"}));
  EXPECT_TRUE(push.send({.device_id = "d3", .challenge_id = "c"}));
  ASSERT_EQ(apns_seen->sent.size(), 1u);  // only the APNs device went to APNs
  EXPECT_EQ(apns_seen->sent[0].device_id, "d1");
}

TEST(Dispatcher, RefusesToReplaceTheBuiltinChannel) {
  events::Hub hub;
  Dispatcher push(hub);
  EXPECT_FALSE(push.add(std::make_unique<RecordingSender>(store::PushPlatform::kBuiltin, true)));
  EXPECT_FALSE(push.add(nullptr));
  EXPECT_FALSE(push.send({.device_id = "", .challenge_id = "c"}));
}

}  // namespace
}  // namespace avow::push
