#include "events/hub.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace avow::events {

namespace asio = boost::asio;

// Shared between the waiter (on its executor) and notifiers (any thread). `pending` is the only field
// notifiers touch directly; the timer is only ever touched on the waiter's executor.
struct Subscription::State {
  explicit State(asio::any_io_executor ex) : executor(ex), timer(ex) {}
  asio::any_io_executor executor;
  asio::steady_timer timer;
  std::atomic<bool> pending{false};
};

Subscription::Subscription(Hub* hub, std::string topic, std::shared_ptr<State> state)
    : hub_(hub), topic_(std::move(topic)), state_(std::move(state)) {}

Subscription::Subscription(Subscription&& other) noexcept
    : hub_(std::exchange(other.hub_, nullptr)), topic_(std::move(other.topic_)), state_(std::move(other.state_)) {}

Subscription::~Subscription() {
  if (hub_ && state_) hub_->unsubscribe(topic_, state_.get());
}

bool Subscription::notified() const { return state_ && state_->pending.load(std::memory_order_acquire); }

asio::awaitable<bool> Subscription::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (state_->pending.exchange(false, std::memory_order_acq_rel)) co_return true;
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    // A cancel from a notification consumed by an earlier wait() may arrive late; the loop re-arms.
    state_->timer.expires_at(deadline);
    boost::system::error_code ec;
    co_await state_->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<Subscription> Hub::subscribe(std::string topic) {
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<Subscription::State>(ex);
  {
    std::lock_guard lock(mu_);
    topics_[topic].push_back(state);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  co_return Subscription(this, std::move(topic), std::move(state));
}

std::size_t Hub::notify(std::string_view topic) {
  std::shared_ptr<const Forwarder> forward;
  {
    std::lock_guard lock(forwarder_mu_);
    forward = forwarder_;
  }
  if (forward) (*forward)(topic);
  return notify_local(topic);
}

// Wake-ups are posted while `mu_` is held, and no reference to a State is kept outside `topics_` and the
// posted handlers: a State (its timer and executor) must never outlive its io_context, and a subscriber that
// has unsubscribed (which it must before its io_context goes away) is then out of reach. A handler still queued
// when the io_context is destroyed is destroyed by the io_context's own shutdown, while its services exist.
std::size_t Hub::notify_local(std::string_view topic) {
  std::lock_guard lock(mu_);
  auto it = topics_.find(std::string(topic));
  if (it == topics_.end()) return 0;
  wake(it->second);
  return it->second.size();
}

std::size_t Hub::notify_all() {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [topic, states] : topics_) {
    wake(states);
    n += states.size();
  }
  return n;
}

void Hub::set_forwarder(Forwarder forwarder) {
  auto f = forwarder ? std::make_shared<const Forwarder>(std::move(forwarder)) : nullptr;
  std::lock_guard lock(forwarder_mu_);
  forwarder_ = std::move(f);
}

void Hub::wake(const std::vector<std::shared_ptr<Subscription::State>>& states) {
  for (const auto& s : states) {
    s->pending.store(true, std::memory_order_release);
    // The timer belongs to the waiter's executor: cancel it there, never from this thread. Posted, never run
    // inline: this runs under `mu_`.
    asio::post(s->executor, [s] { s->timer.cancel(); });
  }
}

void Hub::unsubscribe(const std::string& topic, const Subscription::State* state) {
  std::lock_guard lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return;
  auto& v = it->second;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].get() == state) {
      v[i] = std::move(v.back());
      v.pop_back();
      count_.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
  }
  if (v.empty()) topics_.erase(it);
}

}  // namespace avow::events
