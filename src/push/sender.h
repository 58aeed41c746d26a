// avow/push/sender.h — telling a device it has a challenge waiting.
//
// A push is only a wake-up: it names the device and the challenge, never the challenge's content. The
// device then fetches the challenge over the signed device API, so a push provider (APNs, FCM) never sees
// the number, the context or anything an attacker could replay.
//
//   push::Dispatcher push(hub);                                   // the built-in channel is always there
//   push.add(std::make_unique<ApnsSender>(…));                    // later: APNs (HTTP/2), FCM HTTP v1
//   push.send({.device_id = d.id, .platform = d.push_platform, .token = d.push_token, .challenge_id = c.id});
//
// The built-in channel wakes the device's open long-poll (`GET /api/device/v1/challenges?wait=…`) through
// the events hub. Every device gets it; a device registered with APNs or FCM also gets that provider's
// push, so a phone with the app in the background still hears about the challenge.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "events/hub.h"
#include "store/records.h"

namespace avow::push {

struct PushMessage {
  std::string device_id;
  store::PushPlatform platform = store::PushPlatform::kBuiltin;
  std::optional<std::string> token;  // the APNs/FCM registration token; none for the built-in channel
  std::string challenge_id;
};

// One push provider. Implementations must be thread-safe and must not block the caller for long: queue
// the network call (APNs/FCM senders own their HTTP/2 connections and retry with backoff).
class Sender {
 public:
  virtual ~Sender() = default;
  // The platform this sender serves.
  virtual store::PushPlatform platform() const = 0;
  // Queues the push. kInvalidArgument when the message lacks what the provider needs (a token);
  // kUnavailable when the provider cannot take it now.
  virtual Status send(const PushMessage& message) = 0;
};

// The built-in channel: wakes the device's long-poll on this node (and, through the hub's bridge, others).
class BuiltinSender final : public Sender {
 public:
  explicit BuiltinSender(events::Hub& hub) : hub_(hub) {}
  store::PushPlatform platform() const override { return store::PushPlatform::kBuiltin; }
  Status send(const PushMessage& message) override;

 private:
  events::Hub& hub_;
};

// Routes each push to the built-in channel and to the device's own provider, when one is registered.
class Dispatcher {
 public:
  explicit Dispatcher(events::Hub& hub) : builtin_(hub) {}

  // Registers the sender for its platform, replacing any earlier one. kInvalidArgument for the built-in
  // platform (always present) or a null sender.
  Status add(std::unique_ptr<Sender> sender);

  // Sends through the built-in channel, then through the device's provider. The built-in result is the one
  // returned when the provider's fails (a provider outage must not stop the sign-in); a device whose platform
  // has no sender here gets the built-in channel only.
  Status send(const PushMessage& message);

 private:
  BuiltinSender builtin_;
  std::map<store::PushPlatform, std::unique_ptr<Sender>> providers_;
};

}  // namespace avow::push
