// The lock that serialises one process's SQLite writers, with a way in ahead of the queue for the WAL
// checkpointer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace avow::store {

// A writer lock (BasicLockable, for std::unique_lock and std::lock_guard) where a caller of lock_first()
// is let in before every writer still waiting. std::mutex makes no promise of order: a writer that unlocks
// and locks again at once usually wins over a thread that has been waiting, and two busy writers kept the
// WAL checkpointer out for 20–140 ms at a time on a loaded machine, while the WAL grew to most of what
// they wrote. Here the checkpointer waits for at most the transaction in progress.
class WriteGate {
 public:
  // Waits until the gate is free and no lock_first() caller is waiting.
  void lock() {
    std::unique_lock guard(mu_);
    ++waiting_;
    writers_.wait(guard, [&] { return !held_ && first_waiting_ == 0; });
    --waiting_;
    held_ = true;
  }

  // Waits only for the holder: the next one in.
  void lock_first() {
    std::unique_lock guard(mu_);
    ++first_waiting_;
    first_.wait(guard, [&] { return !held_; });
    --first_waiting_;
    held_ = true;
  }

  void unlock() {
    std::unique_lock guard(mu_);
    held_ = false;
    const bool to_first = first_waiting_ > 0;
    const bool to_writer = waiting_ > 0;
    guard.unlock();
    if (to_first) {
      first_.notify_one();
    } else if (to_writer) {
      writers_.notify_one();
    }
  }

  // How many threads wait in lock() and lock_first(); for tests.
  std::size_t waiting() const {
    std::lock_guard guard(mu_);
    return waiting_;
  }
  std::size_t waiting_first() const {
    std::lock_guard guard(mu_);
    return first_waiting_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable writers_;
  std::condition_variable first_;
  bool held_ = false;
  std::size_t waiting_ = 0;
  std::size_t first_waiting_ = 0;
};

}  // namespace avow::store
