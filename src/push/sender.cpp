#include "push/sender.h"

#include "common/logging.h"

namespace avow::push {

Status BuiltinSender::send(const PushMessage& message) {
  if (message.device_id.empty()) return fail(ErrorCode::kInvalidArgument, "push: no device");
  hub_.notify("device:" + message.device_id);
  return ok();
}

Status Dispatcher::add(std::unique_ptr<Sender> sender) {
  if (!sender) return fail(ErrorCode::kInvalidArgument, "push: null sender");
  const store::PushPlatform p = sender->platform();
  if (p == store::PushPlatform::kBuiltin || p == store::PushPlatform::kNone)
    return fail(ErrorCode::kInvalidArgument, "push: the built-in channel is always present");
  providers_[p] = std::move(sender);
  return ok();
}

Status Dispatcher::send(const PushMessage& message) {
  AVOW_TRY(builtin_.send(message));
  auto it = providers_.find(message.platform);
  if (it == providers_.end()) return ok();
  if (Status s = it->second->send(message); !s)
    log::warn("push provider refused", {{"device_id", message.device_id},
                                        {"platform", store::to_string(message.platform)},
                                        {"error", s.error().message}});
  return ok();
}

}  // namespace avow::push
