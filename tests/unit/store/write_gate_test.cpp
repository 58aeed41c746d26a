// The SQLite writers' gate: the checkpointer's lock_first() goes ahead of writers already waiting, and no
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

// Spins until pred() holds; the waits are on other threads' progress, which has no other signal.
template <class Pred>
void wait_until(Pred pred) {
  while (!pred()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(WriteGateTest, TheCheckpointerGoesBeforeWritersThatWaitedLonger) {
  WriteGate gate;
  std::vector<std::string> order;  // appended to while holding the gate
  gate.lock();

  std::vector<std::thread> writers;
  for (int i = 0; i < 3; ++i) {
    writers.emplace_back([&] {
      std::lock_guard held(gate);
      order.push_back("writer");
    });
  }
  wait_until([&] { return gate.waiting() == 3; });
  std::thread checkpointer([&] {
    gate.lock_first();
    order.push_back("checkpointer");
    gate.unlock();
  });
  wait_until([&] { return gate.waiting_first() == 1; });

  gate.unlock();
  checkpointer.join();
  for (auto& t : writers) t.join();
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), "checkpointer");
  EXPECT_EQ(gate.waiting(), 0u);
  EXPECT_EQ(gate.waiting_first(), 0u);
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
          gate.unlock();
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
