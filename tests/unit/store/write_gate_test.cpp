// The SQLite writers' gate: writers that arrive after the checkpointer's lock_first() wait for it, and no
// waiter is ever lost.
#include "store/sqlite/write_gate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace avow::store {
namespace {

// Polls until pred() holds (true) or ten seconds pass (false); the waits are on other threads' progress,
// which has no other signal.
template <class Pred>
bool wait_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(WriteGateTest, WritersThatArriveAfterTheCheckpointerWaitForIt) {
  WriteGate gate;
  std::vector<std::string> order;  // appended to while holding the gate
  gate.lock();

  std::thread checkpointer([&] {
    gate.lock_first();
    order.push_back("checkpointer");
    gate.unlock_first();
  });
  ASSERT_TRUE(wait_until([&] { return gate.first_wanted(); }));  // in lock_first(), blocked on the holder
  std::vector<std::thread> writers;
  for (int i = 0; i < 3; ++i) {
    writers.emplace_back([&] {
      std::lock_guard held(gate);
      order.push_back("writer");
    });
  }
  // The writers wait behind the checkpointer, not on the lock.
  const bool parked = wait_until([&] { return gate.parked() == 3; });
  gate.unlock();
  checkpointer.join();
  for (auto& t : writers) t.join();
  ASSERT_TRUE(parked) << "writers that came after lock_first() went for the lock";
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), "checkpointer");
  EXPECT_EQ(gate.parked(), 0u);
}

TEST(WriteGateTest, OneHolderAtATimeAndEveryWaiterGetsIn) {
  WriteGate gate;
  constexpr int kThreads = 6;
  constexpr int kRounds = 2000;
  int inside = 0;
  int most_inside = 0;
  long total = 0;
  auto enter = [&] {
    most_inside = std::max(most_inside, ++inside);
    ++total;
    --inside;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        if (t == 0 && i % 10 == 0) {
          gate.lock_first();
          enter();
          gate.unlock_first();
        } else {
          std::lock_guard held(gate);
          enter();
        }
      }
    });
  }
  for (auto& t : threads) t.join();  // a lost wake-up would hang here (ctest's timeout)
  EXPECT_EQ(total, long{kThreads} * kRounds);
  EXPECT_EQ(most_inside, 1);
}

}  // namespace
}  // namespace avow::store
