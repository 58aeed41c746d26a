// avow/http/blocking_pool.h — runs blocking work (database calls, file I/O) off the event loop.
//
//   asio::awaitable<Response> readyz(Request req, BlockingPool* pool, std::shared_ptr<Database> db) {
//     auto ping = [db] { return db->ping(); };
//     Status s = co_await pool->run(std::move(ping));   // resumes on this connection's executor
//     ...
//   }
//
// GCC 12 trap: inside a coroutine, never write a lambda (or any brace-initialized temporary, e.g.
// `Holder{p}`) in the same full-expression as a co_await — `co_await pool->run([db] {...})` destroys the
// closure twice (its shared_ptr capture is released twice). Bind it to a named local first, as above.
// (Braced initializer lists there, e.g. a json `{{"k", v}}` argument, do not even compile.)
//
// The event-loop threads never block: `run` hands `fn` to a fixed set of worker threads and suspends the
// calling coroutine; when `fn` returns, the coroutine resumes on the executor it was running on (its
// connection's strand). An exception thrown by `fn` is rethrown at the `co_await`.
#pragma once

#include <utility>  // before Asio: asio#944

#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace avow::http {

class BlockingPool {
 public:
  // `threads` workers (at least 1).
  explicit BlockingPool(std::size_t threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `fn()` on a worker and resumes the caller on its own executor with the result; `fn` is destroyed
  // on the worker before the caller resumes. `fn` must return a movable value (not void: return a Status).
  template <class Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn&>> run(Fn fn) {
    using R = std::invoke_result_t<Fn&>;
    auto initiate = [this](auto handler, Fn work) { start<R>(std::move(handler), std::move(work)); };
    std::optional<R> result = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                                   void(std::exception_ptr, std::optional<R>)>(
        std::move(initiate), boost::asio::use_awaitable, std::move(fn));
    co_return std::move(*result);
  }

  // Stops taking work and waits for the running tasks to finish; queued tasks are dropped. Idempotent.
  void shutdown();

 private:
  template <class R, class Handler, class Fn>
  void start(Handler handler, Fn work) {
    // A tracked executor keeps the caller's io_context from running out of work while `work` runs.
    auto resume_on = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                         boost::asio::execution::outstanding_work.tracked);
    boost::asio::post(pool_, [handler = std::move(handler), work = std::move(work), resume_on]() mutable {
      std::exception_ptr error;
      std::optional<R> result;
      {
        // The callable (and what it captured) is released here, before the caller resumes.
        Fn task = std::move(work);
        try {
          result.emplace(task());
        } catch (...) {
          error = std::current_exception();
        }
      }
      boost::asio::post(resume_on, [handler = std::move(handler), error, result = std::move(result)]() mutable {
        std::move(handler)(error, std::move(result));
      });
    });
  }

  boost::asio::thread_pool pool_;
};

}  // namespace avow::http
