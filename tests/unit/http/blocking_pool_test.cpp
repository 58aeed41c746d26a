#include <utility>  // before Asio: asio#944

#include "http/blocking_pool.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace avow::http {
namespace {

namespace asio = boost::asio;

struct Observed {
  std::thread::id loop_before, worker, loop_after;
  int value = 0;
  std::string error;
};

asio::awaitable<void> use_pool(BlockingPool* pool, Observed* seen, bool throw_in_worker) {
  seen->loop_before = std::this_thread::get_id();
  auto work = [seen, throw_in_worker] {
    seen->worker = std::this_thread::get_id();
    if (throw_in_worker) throw std::runtime_error("boom");
    return 42;
  };
  try {
    seen->value = co_await pool->run(std::move(work));
  } catch (const std::exception& e) {
    seen->error = e.what();
  }
  seen->loop_after = std::this_thread::get_id();
}

TEST(BlockingPool, RunsOffTheLoopAndResumesOnIt) {
  asio::io_context ioc;
  BlockingPool pool(2);
  Observed seen;
  asio::co_spawn(ioc, use_pool(&pool, &seen, false), [](std::exception_ptr e) { ASSERT_FALSE(e); });
  ioc.run();  // returns only once the coroutine has finished: the pending work keeps the loop alive
  EXPECT_EQ(seen.value, 42);
  EXPECT_EQ(seen.loop_before, std::this_thread::get_id());
  EXPECT_NE(seen.worker, std::this_thread::get_id());
  EXPECT_EQ(seen.loop_after, std::this_thread::get_id());
}

TEST(BlockingPool, RethrowsWorkerExceptionAtTheAwait) {
  asio::io_context ioc;
  BlockingPool pool(1);
  Observed seen;
  asio::co_spawn(ioc, use_pool(&pool, &seen, true), [](std::exception_ptr e) { ASSERT_FALSE(e); });
  ioc.run();
  EXPECT_EQ(seen.error, "boom");
  EXPECT_EQ(seen.loop_after, std::this_thread::get_id());
}

asio::awaitable<void> capture_shared(BlockingPool* pool, std::shared_ptr<int> p, long* count_after, int* value) {
  // Named, as blocking_pool.h asks: a lambda temporary inside the co_await is destroyed twice by GCC 12.
  auto read = [p] { return *p; };
  *value = co_await pool->run(std::move(read));
  *count_after = p.use_count();
}

// Owned values captured by the work are released exactly once, after the work ran.
TEST(BlockingPool, ReleasesCapturedValuesExactlyOnce) {
  asio::io_context ioc;
  BlockingPool pool(1);
  auto shared = std::make_shared<int>(7);
  long count_after = 0;
  int value = 0;
  asio::co_spawn(ioc, capture_shared(&pool, shared, &count_after, &value),
                 [](std::exception_ptr e) { ASSERT_FALSE(e); });
  ioc.run();
  EXPECT_EQ(value, 7);
  EXPECT_EQ(count_after, 2);  // `shared` here + the coroutine's parameter
  EXPECT_EQ(shared.use_count(), 1);
}

}  // namespace
}  // namespace avow::http
