#include "events/pg_bridge.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "common/logging.h"
#include "common/random.h"

namespace avow::events {

namespace {

// Topics sent in one statement (one round trip) when several are queued.
constexpr std::size_t kTopicsPerStatement = 64;

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A channel is an identifier: quoted, with any quote doubled.
std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool command_ok(PGconn* conn, const char* sql) {
  PgResult r(PQexec(conn, sql));
  return r && PQresultStatus(r.get()) == PGRES_COMMAND_OK;
}

std::string connection_error(PGconn* conn) {
  std::string m = conn ? PQerrorMessage(conn) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// Opens the LISTEN connection. TCP keepalives notice a peer that vanished without closing the connection (a
// failed-over primary, a cut network) within about a minute, and connect_timeout bounds a connect to a host
// that does not answer (so stop() is never stuck behind it). Both are defaults: the URL's own settings,
// expanded after them, win.
PGconn* connect(const std::string& url) {
  const char* keys[] = {
      "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "connect_timeout", "dbname", nullptr};
  const char* values[] = {"1", "30", "10", "3", "5", url.c_str(), nullptr};
  return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
}

}  // namespace

PgBridge::PgBridge(Hub& hub, PgBridgeOptions options) : hub_(hub), options_(std::move(options)) {
  if (options_.node_id.empty()) options_.node_id = random_token(9);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  hub_.set_forwarder([this](std::string_view topic) { enqueue(topic); });
  thread_ = std::thread([this] { run(); });
}

PgBridge::~PgBridge() { stop(); }

void PgBridge::stop() {
  hub_.set_forwarder({});
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_thread();
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

Status PgBridge::notify_once(const std::string& url, std::string_view topic, std::string_view sender,
                             std::string_view channel) {
  if (topic.empty() || topic.size() > kMaxTopicSize)
    return fail(ErrorCode::kInvalidArgument, "cluster events: a topic is 1 to 200 bytes");
  PgConn conn(connect(url));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    return fail(ErrorCode::kUnavailable, "cluster events: cannot connect: " + connection_error(conn.get()));
  const std::string channel_text(channel);
  const std::string payload = std::string(sender) + " " + std::string(topic);
  const char* params[2] = {channel_text.c_str(), payload.c_str()};
  PgResult r(PQexecParams(conn.get(), "SELECT pg_notify($1, $2)", 2, nullptr, params, nullptr, nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    return fail(ErrorCode::kUnavailable, "cluster events: notify failed: " + connection_error(conn.get()));
  return ok();
}

void PgBridge::enqueue(std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicSize) return;  // topics are ids; anything else is a bug upstream
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= kMaxQueuedTopics) queue_.pop_front();
    queue_.emplace_back(topic);
  }
  wake_thread();
}

void PgBridge::wake_thread() {
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void PgBridge::run() {
  const std::string listen_sql = "LISTEN " + quote_identifier(options_.channel);
  const std::string prefix = options_.node_id + " ";
  auto backoff = options_.reconnect_min;
  bool ever_connected = false;

  auto is_stopping = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  // Sleeps up to `d`, returning early when stop() is called.
  auto nap = [this](std::chrono::milliseconds d) {
    pollfd p{wake_fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(d.count()));
    std::uint64_t drained;
    while (::read(wake_fd_, &drained, sizeof drained) > 0) {
    }
  };

  while (!is_stopping()) {
    PgConn conn(connect(options_.url));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK || !command_ok(conn.get(), listen_sql.c_str())) {
      if (ever_connected || backoff == options_.reconnect_min) {
        log::warn("cluster events: cannot connect to the database", {{"error", connection_error(conn.get())}});
      }
      nap(backoff);
      backoff = std::min(backoff * 2, options_.reconnect_max);
      continue;
    }
    backoff = options_.reconnect_min;
    ever_connected = true;
    connects_.fetch_add(1, std::memory_order_relaxed);
    connected_.store(true, std::memory_order_release);
    if (options_.on_connection) options_.on_connection(true);
    log::info("cluster events: listening", {{"channel", options_.channel}, {"node", options_.node_id}});
    // Whatever was sent while this node was not listening is lost: every waiter re-reads its state.
    hub_.notify_all();
    if (options_.on_remote) options_.on_remote("*");

    // Hands every notification libpq has buffered to the hub. libpq also buffers notifications it reads while
    // waiting for another command's result (our pg_notify sends), which poll() on the socket never reports: so
    // this runs after every command as well as after reading the socket.
    auto deliver = [&] {
      while (PGnotify* n = PQnotifies(conn.get())) {
        std::string_view payload = n->extra ? n->extra : "";
        if (!payload.starts_with(prefix)) {
          const std::size_t space = payload.find(' ');
          if (space != std::string_view::npos && space + 1 < payload.size()) {
            std::string topic(payload.substr(space + 1));
            received_.fetch_add(1, std::memory_order_relaxed);
            hub_.notify_local(topic);
            if (options_.on_remote) options_.on_remote(topic);
          }
        }
        PQfreemem(n);
      }
    };
    deliver();

    bool healthy = true;
    while (healthy) {
      // 1. Send what the hub forwarded, oldest first; on failure keep it for the next connection.
      std::vector<std::string> batch;
      bool stop_now = false;
      {
        std::lock_guard lock(mu_);
        batch.assign(queue_.begin(), queue_.end());
        stop_now = stopping_;
      }
      // Up to kTopicsPerStatement topics per round trip: `SELECT pg_notify($1, $2), pg_notify($1, $3), …`
      // (one statement is one transaction, whose notifications are delivered in order).
      std::size_t sent = 0;
      while (sent < batch.size()) {
        const std::size_t n = std::min(batch.size() - sent, kTopicsPerStatement);
        std::string sql = "SELECT ";
        std::vector<std::string> payloads;
        std::vector<const char*> params{options_.channel.c_str()};
        payloads.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          payloads.push_back(prefix + batch[sent + i]);
          sql += (i ? ", pg_notify($1, $" : "pg_notify($1, $") + std::to_string(i + 2) + ")";
        }
        for (const std::string& p : payloads) params.push_back(p.c_str());
        PgResult r(PQexecParams(conn.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                                nullptr, nullptr, 0));
        if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
          healthy = false;
          break;
        }
        sent += n;
      }
      deliver();
      if (sent > 0) {
        std::lock_guard lock(mu_);
        // enqueue() may have dropped from the front meanwhile only when the queue was full; the batch was a
        // prefix of the queue, so at most `sent` entries are removed.
        for (std::size_t i = 0; i < sent && !queue_.empty(); ++i) queue_.pop_front();
      }
      if (!healthy) break;
      if (stop_now) break;

      // 2. Wait for the server (a notification, or the connection closing) or for new topics to send.
      pollfd fds[2] = {{PQsocket(conn.get()), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, 10000) < 0 && errno != EINTR) break;
      if (fds[1].revents & POLLIN) {
        std::uint64_t drained;
        while (::read(wake_fd_, &drained, sizeof drained) > 0) {
        }
      }
      if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (!PQconsumeInput(conn.get())) {
          healthy = false;
          break;
        }
        deliver();
      }
      if (PQstatus(conn.get()) != CONNECTION_OK) healthy = false;
    }
    connected_.store(false, std::memory_order_release);
    if (options_.on_connection) options_.on_connection(false);
    if (!is_stopping()) {
      log::warn("cluster events: connection lost; reconnecting", {{"error", connection_error(conn.get())}});
      nap(options_.reconnect_min);
    }
  }
}

}  // namespace avow::events
