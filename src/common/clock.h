// avow/common/clock.h — the one source of "now".
//
// Everything that ages (hints, challenges, scan codes, TOTP steps, sessions) takes a `const Clock&`, so
// tests move time with `ManualClock` instead of sleeping.
//
//   ManualClock clock(Clock::from_unix(1'700'000'000));
//   clock.advance(std::chrono::minutes(3));
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace avow {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  using duration = std::chrono::system_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;

  // Whole seconds since the Unix epoch, as JWT `iat`/`exp` and the database use.
  std::int64_t unix_now() const { return to_unix(now()); }

  static std::int64_t to_unix(time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  }
  static time_point from_unix(std::int64_t s) { return time_point(std::chrono::seconds(s)); }
};

// Wall-clock time.
class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& instance();
};

// Time that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = Clock::from_unix(1'700'000'000)) : ticks_(start.time_since_epoch().count()) {}
  time_point now() const override { return time_point(duration(ticks_.load())); }
  void set(time_point t) { ticks_.store(t.time_since_epoch().count()); }
  void advance(duration d) { ticks_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> ticks_;
};

}  // namespace avow
