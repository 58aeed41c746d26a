#include <utility>  // before Asio: asio#944

#include "http/server.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/logging.h"
#include "http/request_id.h"

namespace avow::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class S>
constexpr bool kIsTls = false;
template <>
constexpr bool kIsTls<TlsStream> = true;

// How long, and how much, a closing connection keeps reading (and discarding) what the client still
// sends, so that closing with unread input does not reset the connection before the client has read
// our last response (e.g. a 413 sent without reading the body).
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr auto kTlsShutdownTime = std::chrono::seconds(1);
constexpr std::size_t kMaxLoggedMethod = 32;

auto redirect(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// co_spawn completion: a coroutine that throws is a bug; say where instead of losing it (STYLE.md).
struct LogCompletion {
  const char* where;
  void operator()(std::exception_ptr e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("coroutine failed", {{"where", where}, {"error", ex.what()}});
    } catch (...) {
      log::error("coroutine failed", {{"where", where}, {"error", "unknown exception"}});
    }
  }
};

// IMF-fixdate (RFC 9110 §5.6.7), formatted at most once per second per thread.
std::string http_date() {
  thread_local std::time_t cached = -1;
  thread_local char buf[40];
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                  kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached = now;
  }
  return buf;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool is_field_value(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// Framing belongs to the server: a handler may not set these.
bool is_framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection") ||
         iequals(name, "date") || iequals(name, "server") || iequals(name, "x-request-id");
}

// Beast 1.74 uses boost::string_view, which does not convert to std::string_view by itself.
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

bool is_http_error(const error_code& ec) {
  return &ec.category() == &bhttp::make_error_code(bhttp::error::bad_target).category();
}

struct SessionBase {
  virtual ~SessionBase() = default;
  // Runs on the session's strand: closes the connection now if it is waiting for a next request.
  virtual void close_if_idle() = 0;
  asio::any_io_executor executor;
};

// Everything a connection needs from its server. Lives in Server::Impl; sessions hold a reference, and
// the io_context (declared after the rest) is destroyed first, taking any remaining sessions with it.
struct ServerCore {
  ServerCore(ServerOptions o, Metrics& m)
      : options(std::move(o)),
        threads(options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency())),
        metrics(m),
        ioc(static_cast<int>(threads)),
        control(asio::make_strand(ioc)),
        acceptor(control),
        pool(options.blocking_threads) {}

  void begin_shutdown();
  void stop_loop() {
    error_code ec;
    if (signals) signals->cancel(ec);
    ioc.stop();
  }
  void on_session_closed(SessionBase* s) {
    {
      std::lock_guard lock(sessions_mu);
      sessions.erase(s);
    }
    open.fetch_sub(1, std::memory_order_relaxed);
    metrics.connection_closed();
  }

  ServerOptions options;
  std::size_t threads;
  Metrics& metrics;
  Router router;
  std::vector<RouteStats*> route_stats;  // by Route::index
  RouteStats* unmatched = nullptr;       // 404 and bad paths
  RouteStats* invalid = nullptr;         // requests rejected before routing (400, 408, 414, 431)
  std::uint64_t max_body_limit = 0;      // the largest body any route accepts
  std::unique_ptr<ssl::context> tls;

  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open{0};
  SteadyClock::time_point shutdown_deadline;
  std::mutex sessions_mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;

  asio::io_context ioc;
  asio::any_io_executor control;  // strand for the acceptor, signals and the shutdown drain
  tcp::acceptor acceptor;
  std::optional<asio::signal_set> signals;
  BlockingPool pool;  // after ioc: destroyed (and its queued continuations) while the io_context lives
  bool started = false;
};

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(ServerCore& core, Stream stream, std::string remote)
      : core(core), stream(std::move(stream)), remote(std::move(remote)), deadline(this->stream.get_executor()) {
    executor = this->stream.get_executor();
  }
  ~Session() override { core.on_session_closed(this); }

  void close_if_idle() override {
    if (idle) beast::get_lowest_layer(stream).cancel();
  }

  // Header and body reads use this deadline instead of tcp_stream's, because tcp_stream closes the
  // socket on expiry and we still want to answer 408. Expiry cancels the pending read; `timed_out`
  // tells the reader why. The generation makes a stale expiry harmless.
  void arm(std::chrono::milliseconds d) {
    timed_out = false;
    const std::uint64_t gen = ++deadline_gen;
    deadline.expires_after(d);
    deadline.async_wait([weak = this->weak_from_this(), gen](const error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->deadline_gen != gen) return;
      self->timed_out = true;
      beast::get_lowest_layer(self->stream).cancel();
    });
  }
  void disarm() {
    ++deadline_gen;
    deadline.cancel();
  }

  ServerCore& core;
  Stream stream;
  std::string remote;
  beast::flat_buffer buffer;
  asio::steady_timer deadline;
  std::uint64_t deadline_gen = 0;
  bool timed_out = false;
  bool idle = false;
};

// What the access log and the metrics need to know about one exchange.
struct Exchange {
  std::string method = "-";
  RouteStats* stats = nullptr;
  std::string request_id;
  unsigned version = 11;
  bool head = false;
  SteadyClock::time_point start = SteadyClock::now();
};

enum class Next { kContinue, kClose, kDrop };

bhttp::response<bhttp::string_body> to_wire(Response r, const Exchange& ex, bool keep_alive, bool tls) {
  if (r.status < 100 || r.status > 599) {
    log::error("handler returned an invalid status", {{"request_id", ex.request_id}, {"status", r.status}});
    r = Response::error(500, "internal", "internal error");
  }
  bhttp::response<bhttp::string_body> res;
  res.version(ex.version);
  res.result(static_cast<unsigned>(r.status));
  res.set(bhttp::field::server, "avow");
  res.set(bhttp::field::date, http_date());
  res.set("X-Request-Id", ex.request_id);
  const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
  if (!bodiless && !r.content_type.empty() && !r.header("content-type"))
    res.set(bhttp::field::content_type, r.content_type);
  if (!r.header("x-content-type-options")) res.set("X-Content-Type-Options", "nosniff");
  if (!r.header("referrer-policy")) res.set("Referrer-Policy", "no-referrer");
  if (!r.header("cache-control")) res.set(bhttp::field::cache_control, "no-store");
  if (tls && !r.header("strict-transport-security")) res.set("Strict-Transport-Security", "max-age=31536000");
  for (auto& [name, value] : r.headers) {
    if (!is_token(name) || !is_field_value(value) || is_framing_header(name)) {
      log::warn("response header dropped", {{"request_id", ex.request_id}, {"header", name.substr(0, 64)}});
      continue;
    }
    res.insert(name, value);
  }
  res.keep_alive(keep_alive);
  if (bodiless) {
    r.body.clear();
  } else if (ex.head) {
    const std::size_t n = r.body.size();
    res.content_length(n);
    return res;  // headers only; Content-Length says what GET would send
  }
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

void record(ServerCore& core, const Exchange& ex, int status, std::size_t bytes, const std::string& remote,
            const error_code& write_error) {
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - ex.start).count();
  ex.stats->record(ex.method, status, seconds);
  if (!log::enabled(log::Level::kInfo)) return;
  nlohmann::json fields = {{"request_id", ex.request_id},
                           {"method", ex.method},
                           {"route", ex.stats->route()},
                           {"status", status},
                           {"duration_ms", std::round(seconds * 1e6) / 1e3},
                           {"bytes", bytes},
                           {"remote", remote}};
  if (write_error) fields["write_error"] = write_error.message();
  log::info("request", fields);
}

// Writes `r`; returns false when the connection broke (or the write timed out).
template <class Stream>
asio::awaitable<bool> send(std::shared_ptr<Session<Stream>> s, Exchange ex, Response r, bool keep_alive) {
  auto res = to_wire(std::move(r), ex, keep_alive, kIsTls<Stream>);
  const int status = static_cast<int>(res.result_int());
  const std::size_t bytes = ex.head ? 0 : res.body().size();
  error_code ec;
  beast::get_lowest_layer(s->stream).expires_after(s->core.options.write_timeout);
  co_await bhttp::async_write(s->stream, res, redirect(ec));
  record(s->core, ex, status, bytes, s->remote, ec);
  co_return !ec;
}

// One request read off the wire, routed, ready for its handler — or the end of the connection (`next`
// is then kClose or kDrop, a rejection already answered).
struct Incoming {
  Next next = Next::kContinue;
  Exchange ex;
  RouteMatch match;
  Request request;  // filled for RouteMatch::kFound
  bool keep_alive = false;
};

// Reads and routes one request under every limit, answering a bad one itself. Apart from serve_one
// so that its coroutine frame — the parser, and the temporaries of every rejection path — is freed
// before the handler runs: a parked long-poll then holds only serve_one's small frame.
template <class Stream>
asio::awaitable<Incoming> read_request(std::shared_ptr<Session<Stream>> s) {
  ServerCore& core = s->core;
  const ServerOptions& o = core.options;
  auto& lowest = beast::get_lowest_layer(s->stream);
  error_code ec;
  Incoming in;

  // Idle: wait for the first byte of the next request under the keep-alive timeout. A shutdown closes
  // the connection here (close_if_idle cancels this read).
  if (s->buffer.size() == 0) {
    if (core.stopping.load()) {
      in.next = Next::kClose;
      co_return in;
    }
    s->idle = true;
    if constexpr (kIsTls<Stream>) {
      lowest.expires_after(o.idle_timeout);
      const std::size_t n = co_await s->stream.async_read_some(s->buffer.prepare(4096), redirect(ec));
      s->idle = false;
      if (!ec) s->buffer.commit(n);
    } else {
      // Plain HTTP: wait for readability without a buffer, so an idle keep-alive connection holds no read
      // buffer at all (TLS cannot: the TLS layer may already hold the next request's bytes).
      s->buffer.shrink_to_fit();
      s->arm(o.idle_timeout);
      co_await lowest.socket().async_wait(tcp::socket::wait_read, redirect(ec));
      s->disarm();
      s->idle = false;
    }
    if (ec) {
      in.next = Next::kDrop;
      co_return in;
    }
  }

  Exchange& ex = in.ex;
  ex.stats = core.invalid;
  int status = 0;  // a rejection: status, code, message
  const char* code = "";
  const char* message = "";
  auto reject_with = [&](int st, const char* c, const char* m) {
    status = st;
    code = c;
    message = m;
  };
  {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(o.max_header_bytes, UINT32_MAX)));
    // The route decides once the header is known; until then, the largest any route accepts. (Not
    // boost::none: Beast 1.74 compares a Content-Length against an empty optional as "over the limit".)
    parser.body_limit(core.max_body_limit);
    lowest.expires_never();
    s->arm(o.header_timeout);
    co_await bhttp::async_read_header(s->stream, s->buffer, parser, redirect(ec));
    s->disarm();
    ex.start = SteadyClock::now();
    if (ec) {
      if (s->timed_out)
        reject_with(408, "request_timeout", "request header not received in time");
      else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
        reject_with(431, "header_too_large", "request header fields too large");
      else if (ec == bhttp::error::body_limit)
        reject_with(413, "payload_too_large", "request body too large");
      else if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || !is_http_error(ec))
        in.next = Next::kDrop;  // the client went away
      else
        reject_with(400, "bad_request", "malformed request");
    }

    if (in.next == Next::kContinue && status == 0) {
      auto& req = parser.get();
      const std::string method(sv(req.method_string()));
      ex.version = req.version();
      ex.method = method.substr(0, kMaxLoggedMethod);
      ex.head = req.method() == bhttp::verb::head;
      {
        auto it = req.find("X-Request-Id");
        ex.request_id = accept_or_generate_request_id(
            it == req.end() ? std::nullopt : std::optional<std::string_view>(sv(it->value())));
      }
      const std::string_view target = sv(req.target());
      const std::size_t qmark = target.find('?');
      const std::string_view path = target.substr(0, qmark);
      std::size_t body_limit = o.max_body_bytes;
      if (target.size() > o.max_target_bytes) {
        reject_with(414, "uri_too_long", "request target too long");
      } else {
        in.match = core.router.match(method, path);
        switch (in.match.kind) {
          case RouteMatch::kFound:
            ex.stats = core.route_stats[in.match.route->index];
            if (in.match.route->options.max_body_bytes) body_limit = *in.match.route->options.max_body_bytes;
            break;
          case RouteMatch::kMethodNotAllowed:
            ex.stats = core.route_stats[in.match.route->index];
            break;
          case RouteMatch::kBadPath:
            reject_with(400, "bad_request", "malformed request target");
            break;
          case RouteMatch::kNotFound:
            ex.stats = core.unmatched;
            break;
        }
      }
      if (status == 0) {
        if (auto length = parser.content_length(); length && *length > body_limit)
          reject_with(413, "payload_too_large", "request body too large");
      }
      if (status == 0 && !parser.is_done()) {
        if (auto expect = req.find(bhttp::field::expect);
            expect != req.end() && iequals(sv(expect->value()), "100-continue")) {
          bhttp::response<bhttp::empty_body> cont(bhttp::status::continue_, req.version());
          lowest.expires_after(o.write_timeout);
          co_await bhttp::async_write(s->stream, cont, redirect(ec));
          if (ec) in.next = Next::kDrop;
          lowest.expires_never();
        }
        if (in.next == Next::kContinue) {
          parser.body_limit(body_limit);
          s->arm(o.body_timeout);
          co_await bhttp::async_read(s->stream, s->buffer, parser, redirect(ec));
          s->disarm();
          if (ec) {
            if (s->timed_out)
              reject_with(408, "request_timeout", "request body not received in time");
            else if (ec == bhttp::error::body_limit)
              reject_with(413, "payload_too_large", "request body too large");
            else if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || !is_http_error(ec))
              in.next = Next::kDrop;
            else
              reject_with(400, "bad_request", "malformed request body");
          }
        }
      }
      if (in.next == Next::kContinue && status == 0) {
        in.keep_alive = req.keep_alive();
        if (in.match.kind == RouteMatch::kFound) {
          Request& request = in.request;
          request.method = method;
          request.target = std::string(target);
          request.path = std::string(path);
          if (qmark != std::string_view::npos) request.query = std::string(target.substr(qmark + 1));
          request.headers.reserve(std::distance(req.begin(), req.end()));
          for (const auto& field : req) request.headers.emplace_back(sv(field.name_string()), sv(field.value()));
          request.body = std::move(req.body());
          request.remote_address = s->remote;
          request.request_id = ex.request_id;
          request.tls = kIsTls<Stream>;
          request.params = std::move(in.match.params);
        }
      }
    }
  }
  if (in.next != Next::kContinue) co_return in;
  if (status != 0) {
    if (ex.request_id.empty()) ex.request_id = new_request_id();
    if (ex.stats == nullptr) ex.stats = core.invalid;
    // Answers an unacceptable request and ends the connection (its input is in an unknown state).
    const bool sent = co_await send(s, std::move(ex), Response::error(status, code, message), false);
    in.next = sent ? Next::kClose : Next::kDrop;
    co_return in;
  }
  // A parked handler does not need an emptied read buffer's capacity.
  if (s->buffer.size() == 0) s->buffer.shrink_to_fit();
  co_return in;
}

template <class Stream>
asio::awaitable<Next> serve_one(std::shared_ptr<Session<Stream>> s) {
  Incoming in = co_await read_request(s);
  if (in.next != Next::kContinue) co_return in.next;

  Response response;
  if (in.match.kind == RouteMatch::kFound) {
    try {
      response = co_await in.match.route->handler(std::move(in.request));
    } catch (const std::exception& e) {
      log::error("handler failed",
                 {{"request_id", in.ex.request_id}, {"route", in.ex.stats->route()}, {"error", e.what()}});
      response = Response::error(500, "internal", "internal error");
    }
  } else if (in.match.kind == RouteMatch::kMethodNotAllowed) {
    response = Response::error(405, "method_not_allowed", "method not allowed for this resource");
    response.set_header("Allow", in.match.allow);
  } else {
    response = Response::error(404, "not_found", "no such resource");
  }

  const bool keep_alive = in.keep_alive && !s->core.stopping.load();
  const bool sent = co_await send(s, std::move(in.ex), std::move(response), keep_alive);
  if (!sent) co_return Next::kDrop;
  co_return keep_alive ? Next::kContinue : Next::kClose;
}

// Ends a connection politely: TLS close_notify, then half-close and drain briefly (see kLingerTime).
template <class Stream>
asio::awaitable<void> close_gracefully(std::shared_ptr<Session<Stream>> s) {
  auto& lowest = beast::get_lowest_layer(s->stream);
  error_code ec;
  if constexpr (kIsTls<Stream>) {
    lowest.expires_after(kTlsShutdownTime);
    co_await s->stream.async_shutdown(redirect(ec));
    if (ec) co_return;
  }
  lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  lowest.expires_after(kLingerTime);
  std::array<char, 4096> sink;
  std::size_t drained = 0;
  while (drained < kLingerBytes) {
    const std::size_t n = co_await lowest.async_read_some(asio::buffer(sink), redirect(ec));
    if (ec) break;
    drained += n;
  }
  lowest.close();
}

template <class Stream>
asio::awaitable<void> run_session(std::shared_ptr<Session<Stream>> s) {
  error_code ec;
  if constexpr (kIsTls<Stream>) {
    beast::get_lowest_layer(s->stream).expires_after(s->core.options.handshake_timeout);
    co_await s->stream.async_handshake(ssl::stream_base::server, redirect(ec));
    if (ec) {
      log::debug("tls handshake failed", {{"remote", s->remote}, {"error", ec.message()}});
      co_return;
    }
  }
  Next next = Next::kContinue;
  while (next == Next::kContinue) next = co_await serve_one(s);
  if (next == Next::kClose) co_await close_gracefully(s);
}

template <class Stream>
void launch(ServerCore& core, std::shared_ptr<Session<Stream>> s) {
  {
    std::lock_guard lock(core.sessions_mu);
    core.sessions.emplace(s.get(), s);
  }
  const asio::any_io_executor ex = s->executor;
  asio::co_spawn(ex, run_session(std::move(s)), LogCompletion{"session"});
}

void start_session(ServerCore& core, tcp::socket socket) {
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  std::string remote = ec ? "unknown" : peer.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  core.open.fetch_add(1, std::memory_order_relaxed);
  core.metrics.connection_opened();
  if (core.tls) {
    launch(core, std::make_shared<Session<TlsStream>>(core, TlsStream(beast::tcp_stream(std::move(socket)), *core.tls),
                                                      std::move(remote)));
  } else {
    launch(core, std::make_shared<Session<PlainStream>>(core, PlainStream(std::move(socket)), std::move(remote)));
  }
}

// Over the connection limit: answer 503 without a session (plain HTTP: one non-blocking write into an
// empty send buffer) and close, so the client learns at once instead of waiting in the backlog.
void refuse_connection(ServerCore& core, tcp::socket socket) {
  core.metrics.connection_rejected();
  static std::atomic<std::int64_t> last_logged{0};
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now().time_since_epoch()).count();
  if (last_logged.exchange(now_s) != now_s)
    log::warn("connection refused: limit reached", {{"max_connections", core.options.max_connections}});
  error_code ec;
  if (!core.tls) {
    static const std::string kBody = R"({"error":"unavailable","message":"too many connections"})";
    static const std::string kResponse =
        "HTTP/1.1 503 Service Unavailable\r\nServer: avow\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
        std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    socket.non_blocking(true, ec);
    if (!ec) socket.write_some(asio::buffer(kResponse), ec);
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

asio::awaitable<void> accept_loop(ServerCore* core) {
  for (;;) {
    error_code ec;
    const asio::any_io_executor strand = asio::make_strand(core->ioc);
    tcp::socket socket = co_await core->acceptor.async_accept(strand, redirect(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !core->acceptor.is_open()) co_return;
      // E.g. out of file descriptors: back off briefly rather than spin.
      log::warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(core->control, std::chrono::milliseconds(50));
      co_await pause.async_wait(redirect(ec));
      continue;
    }
    if (core->stopping.load()) {
      socket.close(ec);
      continue;
    }
    if (core->open.load(std::memory_order_relaxed) >= core->options.max_connections) {
      refuse_connection(*core, std::move(socket));
      continue;
    }
    start_session(*core, std::move(socket));
  }
}

// Waits for the open connections to finish (bounded by the grace period), then stops the event loop.
asio::awaitable<void> drain(ServerCore* core) {
  asio::steady_timer tick(core->control);
  error_code ec;
  while (core->open.load() > 0 && SteadyClock::now() < core->shutdown_deadline) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(redirect(ec));
  }
  const std::size_t left = core->open.load();
  if (left > 0)
    log::warn("shutdown grace expired; closing connections", {{"open_connections", left}});
  else
    log::info("connections drained");
  core->stop_loop();
}

void wait_for_signal(ServerCore* core) {
  core->signals->async_wait([core](const error_code& ec, int signo) {
    if (ec) return;
    if (!core->stopping.load()) {
      log::info("signal received; shutting down", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
      core->begin_shutdown();
      wait_for_signal(core);
    } else {
      log::warn("second signal; stopping now", {{"open_connections", core->open.load()}});
      core->stop_loop();
    }
  });
}

Result<std::unique_ptr<ssl::context>> load_tls(const TlsFiles& files) {
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->use_certificate_chain_file(files.cert_file);
    ctx->use_private_key_file(files.key_file, ssl::context::pem);
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
      return fail(ErrorCode::kInvalidArgument, "tls: the key in " + files.key_file + " does not match the certificate");
    return ctx;
  } catch (const boost::system::system_error& e) {
    return fail(ErrorCode::kInvalidArgument,
                "tls: cannot load " + files.cert_file + " / " + files.key_file + ": " + e.code().message());
  }
}

}  // namespace

void ServerCore::begin_shutdown() {
  if (stopping.exchange(true)) return;
  shutdown_deadline = SteadyClock::now() + options.shutdown_grace;
  log::info("shutting down", {{"open_connections", open.load()}, {"grace_ms", options.shutdown_grace.count()}});
  asio::post(control, [this] {
    error_code ec;
    acceptor.close(ec);
  });
  // Collect under the lock, post and release outside it: dropping the last reference runs ~Session,
  // which takes the lock.
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(sessions_mu);
    live.reserve(sessions.size());
    for (auto& [raw, weak] : sessions)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) {
    const asio::any_io_executor ex = s->executor;
    asio::post(ex, [s] { s->close_if_idle(); });
  }
  live.clear();
  asio::co_spawn(control, drain(this), LogCompletion{"shutdown"});
}

struct Server::Impl {
  Impl(ServerOptions o, Metrics& m) : core(std::move(o), m) {}
  ServerCore core;
};

Server::Server(ServerOptions options, Metrics& metrics) : impl_(std::make_unique<Impl>(std::move(options), metrics)) {}

Server::~Server() = default;

Router& Server::router() { return impl_->core.router; }

BlockingPool& Server::blocking_pool() { return impl_->core.pool; }

Result<Endpoint> Server::start() {
  ServerCore& core = impl_->core;
  if (core.started) return fail(ErrorCode::kConflict, "http: server already started");
  const ServerOptions& o = core.options;

  error_code ec;
  const asio::ip::address address =
      o.host == "localhost" ? asio::ip::address(asio::ip::address_v4::loopback()) : asio::ip::make_address(o.host, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "http: listen host \"" + o.host + "\" is not an IP address");

  if (o.tls) {
    auto ctx = load_tls(*o.tls);
    if (!ctx) return tl::unexpected(ctx.error());
    core.tls = std::move(*ctx);
  }

  const tcp::endpoint endpoint(address, o.port);
  const std::string where =
      (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" + std::to_string(o.port);
  core.acceptor.open(endpoint.protocol(), ec);
  if (!ec) core.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) core.acceptor.bind(endpoint, ec);
  if (!ec) core.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorCode::kUnavailable, "http: cannot listen on " + where + ": " + ec.message());
  const std::uint16_t port = core.acceptor.local_endpoint(ec).port();
  if (ec) return fail(ErrorCode::kUnavailable, "http: cannot read the bound port: " + ec.message());

  core.route_stats.clear();
  core.max_body_limit = o.max_body_bytes;
  for (const Route& r : core.router.routes()) {
    core.route_stats.push_back(&core.metrics.route(r.pattern));
    if (r.options.max_body_bytes)
      core.max_body_limit = std::max<std::uint64_t>(core.max_body_limit, *r.options.max_body_bytes);
  }
  core.unmatched = &core.metrics.route("unmatched");
  core.invalid = &core.metrics.route("invalid");

  if (o.handle_signals) {
    core.signals.emplace(core.control, SIGINT, SIGTERM);
    wait_for_signal(&core);
  }
  asio::co_spawn(core.control, accept_loop(&core), LogCompletion{"accept"});
  core.started = true;
  return Endpoint{address.to_string(), port, core.tls != nullptr};
}

void Server::run() {
  ServerCore& core = impl_->core;
  if (!core.started) return;
  auto work = asio::make_work_guard(core.ioc);
  auto loop = [&core] {
    for (;;) {
      try {
        core.ioc.run();
        return;
      } catch (const std::exception& e) {
        // A handler outside any coroutine threw: log it and keep serving.
        log::error("event loop: unhandled exception", {{"error", e.what()}});
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < core.threads; ++i) threads.emplace_back(loop);
  loop();
  for (auto& t : threads) t.join();
  core.pool.shutdown();
}

void Server::shutdown() {
  ServerCore& core = impl_->core;
  asio::post(core.control, [&core] { core.begin_shutdown(); });
}

}  // namespace avow::http
