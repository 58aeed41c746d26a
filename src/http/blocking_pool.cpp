#include "http/blocking_pool.h"

#include <algorithm>

namespace avow::http {

BlockingPool::BlockingPool(std::size_t threads) : pool_(std::max<std::size_t>(1, threads)) {}

BlockingPool::~BlockingPool() { shutdown(); }

void BlockingPool::shutdown() {
  pool_.stop();
  pool_.join();
}

}  // namespace avow::http
