#include "http/router.h"

#include <algorithm>
#include <set>

#include <boost/asio/use_awaitable.hpp>

namespace avow::http {
namespace {

// RFC 9110 token characters.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

boost::asio::awaitable<Response> run_sync(SyncHandler handler, Request request) { co_return handler(request); }

}  // namespace

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  std::size_t start = 1;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

Status Router::add(std::string method, std::string pattern, AsyncHandler handler, RouteOptions options) {
  return add_route(std::move(method), std::move(pattern), std::move(handler), options);
}

Status Router::add(std::string method, std::string pattern, SyncHandler handler, RouteOptions options) {
  if (!handler) return fail(ErrorCode::kInvalidArgument, "router: empty handler for " + pattern);
  AsyncHandler wrapped = [h = std::move(handler)](Request r) { return run_sync(h, std::move(r)); };
  return add_route(std::move(method), std::move(pattern), std::move(wrapped), options);
}

Status Router::add_route(std::string method, std::string pattern, AsyncHandler handler, RouteOptions options) {
  if (!handler) return fail(ErrorCode::kInvalidArgument, "router: empty handler for " + pattern);
  if (!is_token(method)) return fail(ErrorCode::kInvalidArgument, "router: bad method \"" + method + "\"");
  if (pattern.empty() || pattern.front() != '/')
    return fail(ErrorCode::kInvalidArgument, "router: pattern must start with '/': " + pattern);

  std::vector<Segment> segments;
  std::set<std::string> names;
  for (std::string_view seg : split_path(pattern)) {
    const bool opens = seg.find('{') != std::string_view::npos;
    const bool closes = seg.find('}') != std::string_view::npos;
    if (opens || closes) {
      if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}' ||
          seg.substr(1, seg.size() - 2).find_first_of("{}/") != std::string_view::npos)
        return fail(ErrorCode::kInvalidArgument, "router: a parameter must be a whole segment `{name}`: " + pattern);
      std::string name(seg.substr(1, seg.size() - 2));
      if (!names.insert(name).second)
        return fail(ErrorCode::kInvalidArgument, "router: parameter {" + name + "} repeated in " + pattern);
      segments.push_back({std::move(name), true});
    } else {
      auto decoded = percent_decode(seg);
      if (!decoded) return fail(ErrorCode::kInvalidArgument, "router: bad percent escape in " + pattern);
      segments.push_back({std::move(*decoded), false});
    }
  }

  auto it = std::find_if(patterns_.begin(), patterns_.end(), [&](const Pattern& p) { return p.text == pattern; });
  if (it == patterns_.end()) {
    const bool literal = std::none_of(segments.begin(), segments.end(), [](const Segment& s) { return s.param; });
    if (literal) {
      std::string key;
      for (const Segment& s : segments) key += "/" + s.text;
      literal_patterns_.emplace(std::move(key), patterns_.size());
    }
    patterns_.push_back(Pattern{pattern, std::move(segments), {}});
    it = patterns_.end() - 1;
  }
  for (std::size_t idx : it->routes)
    if (routes_[idx].method == method)
      return fail(ErrorCode::kAlreadyExists, "router: " + method + " " + pattern + " registered twice");

  const std::size_t index = routes_.size();
  it->routes.push_back(index);
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler), options, index});
  return ok();
}

const Route* Router::route_for(const Pattern& p, std::string_view method) const {
  const Route* get = nullptr;
  for (std::size_t idx : p.routes) {
    const Route& r = routes_[idx];
    if (r.method == method) return &r;
    if (r.method == "GET") get = &r;
  }
  return method == "HEAD" ? get : nullptr;
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch out;
  if (path.empty() || path.front() != '/') {
    out.kind = RouteMatch::kBadPath;
    return out;
  }
  std::vector<std::string> decoded;
  std::string key;
  for (std::string_view seg : split_path(path)) {
    auto d = percent_decode(seg);
    if (!d) {
      out.kind = RouteMatch::kBadPath;
      return out;
    }
    key += "/" + *d;
    decoded.push_back(std::move(*d));
  }

  // A literal pattern is the most specific match possible: answer it without scanning.
  const Pattern* literal = nullptr;
  if (auto it = literal_patterns_.find(key); it != literal_patterns_.end()) {
    literal = &patterns_[it->second];
    if (const Route* r = route_for(*literal, method)) {
      out.kind = RouteMatch::kFound;
      out.route = r;
      return out;
    }
  }

  const Pattern* best = nullptr;
  const Route* best_route = nullptr;
  std::set<std::string> allowed;
  const Route* any_route = nullptr;
  auto note_allowed = [&](const Pattern& p) {
    for (std::size_t idx : p.routes) {
      allowed.insert(routes_[idx].method);
      if (routes_[idx].method == "GET") allowed.insert("HEAD");
      any_route = &routes_[idx];
    }
  };
  if (literal) note_allowed(*literal);

  for (const Pattern& p : patterns_) {
    if (&p == literal || p.segments.size() != decoded.size()) continue;
    bool matches = true;
    for (std::size_t i = 0; i < decoded.size() && matches; ++i)
      matches = p.segments[i].param ? !decoded[i].empty() : p.segments[i].text == decoded[i];
    if (!matches) continue;
    note_allowed(p);
    const Route* r = route_for(p, method);
    if (!r) continue;
    bool better = best == nullptr;
    for (std::size_t i = 0; best && i < decoded.size(); ++i) {
      if (p.segments[i].param != best->segments[i].param) {
        better = !p.segments[i].param;
        break;
      }
    }
    if (better) {
      best = &p;
      best_route = r;
    }
  }

  if (best) {
    out.kind = RouteMatch::kFound;
    out.route = best_route;
    for (std::size_t i = 0; i < decoded.size(); ++i)
      if (best->segments[i].param) out.params.emplace_back(best->segments[i].text, std::move(decoded[i]));
    return out;
  }
  if (!allowed.empty()) {
    out.kind = RouteMatch::kMethodNotAllowed;
    out.route = any_route;
    for (const std::string& m : allowed) {
      if (!out.allow.empty()) out.allow += ", ";
      out.allow += m;
    }
    return out;
  }
  out.kind = RouteMatch::kNotFound;
  return out;
}

}  // namespace avow::http
