#include "common/clock.h"

namespace avow {

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace avow
