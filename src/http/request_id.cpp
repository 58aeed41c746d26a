#include "http/request_id.h"

#include <algorithm>

#include "common/random.h"

namespace avow::http {

bool is_acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  });
}

std::string new_request_id() { return random_token(16); }

std::string accept_or_generate_request_id(std::optional<std::string_view> incoming) {
  if (incoming && is_acceptable_request_id(*incoming)) return std::string(*incoming);
  return new_request_id();
}

}  // namespace avow::http
