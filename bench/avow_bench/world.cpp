#include <utility>  // before Asio: asio#944

#include "world.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "authenticator/device.h"
#include "common/base64url.h"
#include "common/clock.h"
#include "common/random.h"
#include "http/metrics.h"
#include "http/server.h"
#include "tools/entra-sim/forms.h"

namespace avow::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using boost::system::error_code;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr auto kRequestTimeout = 40s;  // above the 25 s long-polls
constexpr int kDevicePollSeconds = 25;
constexpr std::string_view kUserAgent = "Mozilla/5.0 (avow-bench)";

auto redirect(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

double ms_between(SteadyTime a, SteadyTime b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

Error step_error(std::string_view step, const std::string& what) {
  return Error{ErrorCode::kUnavailable, std::string(step) + ": " + what};
}

std::string excerpt(const HttpResponse& r) { return "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200); }

std::string html_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&#x27;", '\''}};
    bool matched = false;
    for (const auto& [name, c] : kEntities) {
      if (s.substr(i, name.size()) == name) {
        out += c;
        i += name.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += '&';
  }
  return out;
}

// The quoted value after `marker` (which ends with `="`), searching from `from`; nullopt when absent.
std::optional<std::string> attr(std::string_view html, std::string_view marker, std::size_t from = 0) {
  const auto at = html.find(marker, from);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + marker.size();
  const auto end = html.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return html_unescape(html.substr(start, end - start));
}

std::string pct(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The MFA page as the browser sees it.
struct Page {
  std::string cookie;  // the avow_flow cookie's value
  std::string wait_url, finish_url, view, challenge_id, scan_url;
  int number = 0;
};

// The auto-submitting form_post: its hidden fields.
Result<std::vector<std::pair<std::string, std::string>>> parse_form_post(const HttpResponse& r) {
  if (r.status != 200 || r.body.find("<form method=\"post\" action=\"") == std::string::npos)
    return tl::unexpected(step_error("finish", "no form_post: " + excerpt(r)));
  std::vector<std::pair<std::string, std::string>> fields;
  constexpr std::string_view kInput = "<input type=\"hidden\" name=\"";
  for (auto at = r.body.find(kInput); at != std::string::npos; at = r.body.find(kInput, at + 1)) {
    auto name = attr(r.body, "name=\"", at);
    auto value = attr(r.body, "value=\"", at);
    if (name && value) fields.emplace_back(*name, *value);
  }
  return fields;
}

Result<Page> parse_page(const HttpResponse& r) {
  if (r.status != 200) return tl::unexpected(step_error("authorize", excerpt(r)));
  Page p;
  auto cookie = r.cookie("avow_flow");
  auto wait = attr(r.body, "data-wait-url=\"");
  auto finish = attr(r.body, "<form id=\"finish\" method=\"post\" action=\"");
  auto view = attr(r.body, "data-view=\"");
  if (!cookie || !wait || !finish || !view) {
    // An answer straight back to Entra (an error, or a refusal): its fields say why.
    if (Result<std::vector<std::pair<std::string, std::string>>> post = parse_form_post(r)) {
      std::string fields;
      for (const auto& [n, v] : *post)
        if (n != "state") fields += " " + n + "=" + (n == "id_token" ? v.substr(0, 40) + "…" : v);
      return tl::unexpected(step_error(
          "authorize", "answered Entra at once (HTTP " + std::to_string(r.status) + " form_post):" + fields));
    }
    return tl::unexpected(step_error("authorize", "not the MFA page: " + excerpt(r)));
  }
  p.cookie = *cookie;
  p.wait_url = *wait;
  p.finish_url = *finish;
  p.view = *view;
  const auto flow = p.wait_url.find("/flow/"), end = p.wait_url.rfind("/wait");
  if (flow == std::string::npos || end == std::string::npos || end <= flow + 6)
    return tl::unexpected(step_error("authorize", "unexpected wait URL " + p.wait_url));
  p.challenge_id = p.wait_url.substr(flow + 6, end - flow - 6);
  if (const auto scan = r.body.find("<section id=\"scan\""); scan != std::string::npos) {
    const auto tag_end = r.body.find('>', scan);
    if (auto url = attr(std::string_view(r.body).substr(0, tag_end), "data-url=\"", scan)) p.scan_url = *url;
  }
  if (const auto n = r.body.find("data-testid=\"match-number\""); n != std::string::npos) {
    const auto gt = r.body.find('>', n);
    if (gt != std::string::npos) p.number = std::atoi(r.body.c_str() + gt + 1);
  }
  return p;
}

std::string field(const std::vector<std::pair<std::string, std::string>>& f, std::string_view name) {
  for (const auto& [n, v] : f)
    if (n == name) return v;
  return {};
}

std::string random_guid() {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string b = random_bytes(16);
  std::string out;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[static_cast<unsigned char>(b[i]) >> 4];
    out += kHex[static_cast<unsigned char>(b[i]) & 15];
  }
  return out;
}

asio::awaitable<Result<HttpResponse>> get_once(tcp::endpoint at, std::string target) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  Connection c(ex, at);
  Headers h;
  co_return co_await c.request("GET", std::move(target), std::move(h), "", 10s);
}

}  // namespace

Result<HttpResponse> World::get(std::string target, std::size_t node) {
  const tcp::endpoint at = node < endpoints_.size() ? endpoints_[node] : endpoint_;
  std::future<Result<HttpResponse>> f =
      asio::co_spawn(asio::make_strand(ioc_), get_once(at, std::move(target)), asio::use_future);
  return f.get();
}

World::World(asio::io_context& ioc, WorldOptions options) : ioc_(ioc), options_(std::move(options)) {}

World::~World() {
  stopping_ = true;
  for (const ServerProcess& p : own_) stop_process(p.pid);
  if (keys_server_) {
    keys_server_->shutdown();
    if (keys_thread_.joinable()) keys_thread_.join();
  }
  if (!temp_dir_.empty() && !options_.keep) {
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
  }
}

Result<std::unique_ptr<World>> World::create(asio::io_context& ioc, WorldOptions options) {
  std::unique_ptr<World> w(new World(ioc, std::move(options)));
  if (Status s = w->start(); !s) return tl::unexpected(s.error());
  return w;
}

Status World::start() {
  // Microsoft: a tenant key, kept in a file when asked (an external avowd caches it by kid).
  if (!options_.tenant_key_file.empty() && fs::exists(options_.tenant_key_file)) {
    std::ifstream in(options_.tenant_key_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<crypto::Jwk> key = crypto::Jwk::parse(text);
    if (!key) return fail(ErrorCode::kInvalidArgument, "tenant key: " + key.error().message);
    Result<entra_sim::Tenant> t = entra_sim::Tenant::from_key(*key);
    if (!t) return tl::unexpected(t.error());
    tenant_.emplace(std::move(*t));
  } else {
    Result<entra_sim::Tenant> t = entra_sim::Tenant::create();
    if (!t) return tl::unexpected(t.error());
    tenant_.emplace(std::move(*t));
    if (!options_.tenant_key_file.empty()) {
      Result<json> j = tenant_->key().to_private_json();
      if (!j) return tl::unexpected(j.error());
      std::ofstream out(options_.tenant_key_file);
      out << j->dump();
    }
  }

  // Microsoft's keys URL, served from this process.
  {
    http::ServerOptions o;
    const auto colon = options_.keys_listen.rfind(':');
    o.host = options_.keys_listen.substr(0, colon);
    o.port = static_cast<std::uint16_t>(std::atoi(options_.keys_listen.c_str() + colon + 1));
    o.threads = 1;
    o.blocking_threads = 1;
    o.handle_signals = false;
    o.shutdown_grace = 1s;
    keys_metrics_ = std::make_unique<http::Metrics>("bench");
    keys_server_ = std::make_unique<http::Server>(o, *keys_metrics_);
    const json jwks = tenant_->jwks();
    AVOW_TRY(keys_server_->router().add(
        "GET", "/keys", http::SyncHandler([jwks](const http::Request&) { return http::Response::json(200, jwks); })));
    Result<http::Endpoint> at = keys_server_->start();
    if (!at) return tl::unexpected(at.error());
    keys_thread_ = std::thread([s = keys_server_.get()] { s->run(); });
    keys_url_ = "http://127.0.0.1:" + std::to_string(at->port) + "/keys";
  }

  std::string data_dir = options_.server_data_dir;
  // `avowd admin` on a shared database takes the nodes' master key and database URL as the nodes do.
  std::vector<std::string> admin_env, admin_args;
  const std::size_t nodes = std::max<std::size_t>(1, options_.nodes);
  if (nodes > 1 && options_.database_url.empty())
    return fail(ErrorCode::kInvalidArgument, "more than one node needs a shared database (--database postgres://…)");
  if (!options_.database_url.empty() && !options_.server_url.empty())
    return fail(ErrorCode::kInvalidArgument, "--database is for the avowd started here, not with --server");
  if (options_.server_url.empty()) {
    Result<std::string> dir = make_temp_dir("avow-bench-");
    if (!dir) return tl::unexpected(dir.error());
    temp_dir_ = *dir;
    data_dir = temp_dir_ + "/avowd";
    fs::create_directories(data_dir);
    std::vector<std::string> env = {
        "AVOW_ENTRA_KEYS_URL=" + keys_url_,
        "AVOW_ENTRA_ALLOW_LOOPBACK_KEYS_URL=true",
        "AVOW_ENTRA_HINT_MAX_AGE=60m",      // hints are minted before the timed part
        "AVOW_FLOW_MAX_PUSHES_PER_HOUR=0",  // each simulated user signs in many times an hour
        "AVOW_LIMITS_SHUTDOWN_GRACE=1s",    // parked long-polls would hold a graceful stop for the default 10 s
        "AVOW_LIMITS_MAX_CONNECTIONS=" + std::to_string(options_.max_connections),
    };
    if (!options_.database_url.empty()) {
      // One master key for every node: it opens the signing keys and sealed secrets in the shared database.
      admin_env.push_back("AVOW_KEYS_MASTER_KEY=" + base64url_encode(random_bytes(32)));
      admin_args = {"--database", options_.database_url};
      env.push_back(admin_env.back());
    }
    env.insert(env.end(), options_.server_env.begin(), options_.server_env.end());
    // Node 0 first (it migrates a fresh database); the others advertise its URL as the public one, as nodes
    // behind one balancer share its URL — the issuer, the devices' signed URLs and the page's Origin.
    for (std::size_t i = 0; i < nodes; ++i) {
      const std::string node_dir = i == 0 ? data_dir : temp_dir_ + "/avowd" + std::to_string(i);
      fs::create_directories(node_dir);
      fs::permissions(node_dir, fs::perms::owner_all, fs::perm_options::replace);  // avowd warns otherwise
      std::vector<std::string> node_env = env;
      if (i > 0) node_env.push_back("AVOW_PUBLIC_URL=" + own_.front().url);
      Result<ServerProcess> p = start_avowd(options_.avowd, node_dir, node_env, admin_args);
      if (!p) return fail(p.error().code, "node " + std::to_string(i) + ": " + p.error().message);
      own_.push_back(*p);
      server_pids_.push_back(p->pid);
    }
    server_pid_ = own_.front().pid;
    base_url_ = own_.front().url;
    if (!admin_args.empty()) {
      data_dir = temp_dir_ + "/cli";  // `avowd admin` needs a data directory of its own; the data is in the database
      fs::create_directories(data_dir);
    }
  } else {
    base_url_ = options_.server_url;
    server_pid_ = options_.server_pid;
    server_pids_ = {server_pid_};
    if (data_dir.empty())
      return fail(ErrorCode::kInvalidArgument, "--server needs --server-data-dir (for `avowd admin`)");
  }
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  auto parse_endpoint = [](const std::string& url) -> Result<tcp::endpoint> {
    if (url.rfind("http://", 0) != 0)
      return fail(ErrorCode::kInvalidArgument, "the server URL must be plain http:// on loopback: " + url);
    std::string hostport = url.substr(7);
    while (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
    const auto colon = hostport.rfind(':');
    error_code ec;
    const auto addr = asio::ip::make_address(hostport.substr(0, colon), ec);
    if (ec || colon == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "the server URL needs an IP address and a port: " + url);
    return tcp::endpoint(addr, static_cast<std::uint16_t>(std::atoi(hostport.c_str() + colon + 1)));
  };
  {
    Result<tcp::endpoint> at = parse_endpoint(base_url_);
    if (!at) return tl::unexpected(at.error());
    endpoint_ = *at;
  }
  if (own_.empty()) endpoints_ = {endpoint_};
  for (const ServerProcess& p : own_) {
    Result<tcp::endpoint> at = parse_endpoint(p.url);
    if (!at) return tl::unexpected(at.error());
    endpoints_.push_back(*at);
  }

  // The org and the integration, as an admin makes them.
  directory_id_ = random_guid();
  app_id_ = random_guid();
  std::vector<std::string> org_argv = {
      options_.avowd, "admin", "org", "create", "--name", "Bench " + random_token(3), "--data-dir", data_dir, "--json"};
  org_argv.insert(org_argv.end(), admin_args.begin(), admin_args.end());
  Result<std::string> org = run_capture(org_argv, 60s, admin_env);
  if (!org) return tl::unexpected(org.error());
  org_id_ = json::parse(*org, nullptr, false).value("id", "");
  std::vector<std::string> integ_argv = {options_.avowd, "admin",  "integration", "create",         "--org",
                                         org_id_,        "--name", "Bench",       "--directory-id", directory_id_,
                                         "--app-id",     app_id_,  "--data-dir",  data_dir,         "--json"};
  integ_argv.insert(integ_argv.end(), admin_args.begin(), admin_args.end());
  Result<std::string> integ = run_capture(integ_argv, 60s, admin_env);
  if (!integ) return tl::unexpected(integ.error());
  client_id_ = json::parse(*integ, nullptr, false).value("client_id", "");
  if (org_id_.empty() || client_id_.empty())
    return fail(ErrorCode::kInternal, "avowd admin printed no org id or client id");
  issuer_ = base_url_ + "/entra/" + client_id_;

  // The integration's JWKS, checked as Entra checks it.
  Result<HttpResponse> r = get("/entra/" + client_id_ + "/jwks");
  if (!r) return tl::unexpected(r.error());
  if (r->status != 200) return fail(ErrorCode::kUnavailable, "integration JWKS: " + excerpt(*r));
  Result<crypto::Jwks> keys = entra_sim::validate_provider_jwks(json::parse(r->body, nullptr, false));
  if (!keys) return fail(ErrorCode::kUnavailable, "integration JWKS: " + keys.error().message);
  provider_keys_ = std::move(*keys);
  return ok();
}

asio::ip::address World::next_source() {
  const std::size_t n = std::max<std::size_t>(1, options_.sources);
  const std::size_t i = source_counter_.fetch_add(1, std::memory_order_relaxed) % n;
  return asio::ip::make_address_v4(static_cast<asio::ip::address_v4::uint_type>(0x7f000002u + i));
}

Result<double> World::metric(const std::string& name) {
  Result<HttpResponse> r = get("/metrics");
  if (!r) return tl::unexpected(r.error());
  const std::string line_start = "\n" + name + " ";
  const auto at = r->body.find(line_start);
  if (at == std::string::npos) return fail(ErrorCode::kNotFound, "no metric " + name);
  return std::strtod(r->body.c_str() + at + line_start.size(), nullptr);
}

Result<double> World::metric_sum(const std::string& name, std::size_t node) {
  Result<HttpResponse> r = get("/metrics", node);
  if (!r) return tl::unexpected(r.error());
  double sum = 0;
  bool found = false;
  std::size_t start = 0;
  while (start < r->body.size()) {
    std::size_t end = r->body.find('\n', start);
    if (end == std::string::npos) end = r->body.size();
    const std::string_view line(r->body.data() + start, end - start);
    if (line.starts_with(name) && line.size() > name.size() && (line[name.size()] == '{' || line[name.size()] == ' ')) {
      const auto space = line.rfind(' ');
      sum += std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
      found = true;
    }
    start = end + 1;
  }
  if (!found) return fail(ErrorCode::kNotFound, "no metric " + name);
  return sum;
}

void World::add_users(std::size_t count, std::size_t strands) {
  strands = std::max<std::size_t>(1, strands);
  while (strands_.size() < strands) strands_.push_back(asio::make_strand(ioc_));
  for (std::size_t i = 0; i < count; ++i) {
    auto u = std::make_unique<User>();
    u->index = static_cast<int>(users_.size());
    u->oid = random_guid();
    u->sub = random_token(24);
    u->username = "user" + std::to_string(u->index) + "-" + random_token(4) + "@contoso.example";
    u->name = "Bench User " + std::to_string(u->index);
    u->key = crypto::Jwk::generate_ec_p256().value();
    u->strand = strands_[u->index % strands];
    u->poll = std::make_unique<BalancedConnection>(u->strand, endpoints_, &u->turn, next_source());
    u->calls = std::make_unique<BalancedConnection>(u->strand, endpoints_, &u->turn, next_source());
    u->to_device = std::make_unique<asio::steady_timer>(u->strand);
    u->to_flow = std::make_unique<asio::steady_timer>(u->strand);
    users_.push_back(std::move(u));
  }
}

std::vector<std::string> World::mint_hints(const std::vector<const User*>& for_users) {
  std::vector<std::string> hints(for_users.size());
  std::atomic<std::size_t> next{0};
  const std::int64_t now = SystemClock::instance().unix_now();
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < for_users.size();) {
      const User& u = *for_users[i];
      entra_sim::HintSpec spec;
      spec.directory_id = directory_id_;
      spec.tid = directory_id_;
      spec.oid = u.oid;
      spec.sub = u.sub;
      spec.aud = app_id_;
      spec.name = u.name;
      spec.username = u.username;
      hints[i] = tenant_->mint_hint(spec, now).value_or("");
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  return hints;
}

Result<std::pair<std::string, std::string>> World::signed_poll(const User& u, int wait_seconds) const {
  Result<device::SignedRequest> r =
      device::sign_request(*u.key, u.device_id, "GET", base_url_, "/challenges?wait=" + std::to_string(wait_seconds),
                           json(), SystemClock::instance().unix_now());
  if (!r) return tl::unexpected(r.error());
  return std::pair(r->target, r->authorization);
}

asio::awaitable<Result<json>> World::device_call(User* u, BalancedConnection* conn, std::string method,
                                                 std::string endpoint, json fields, int expect) {
  Result<device::SignedRequest> sr = device::sign_request(*u->key, u->device_id, method, base_url_, endpoint, fields,
                                                          SystemClock::instance().unix_now());
  if (!sr) co_return tl::unexpected(sr.error());
  Headers h;
  if (method == "GET")
    h.emplace_back("Authorization", sr->authorization);
  else
    h.emplace_back("Content-Type", sr->content_type);
  h.emplace_back("User-Agent", "avow-bench-device/0.1");
  Result<HttpResponse> r = co_await conn->request(method, sr->target, std::move(h), sr->body, kRequestTimeout);
  if (!r) co_return tl::unexpected(r.error());
  if (r->status != expect) co_return tl::unexpected(step_error(method + " " + endpoint, excerpt(*r)));
  json body = json::parse(r->body, nullptr, false);
  if (!body.is_object()) co_return tl::unexpected(step_error(endpoint, "not a JSON object"));
  co_return body;
}

asio::awaitable<Status> World::enroll(User* u) {
  json fields = {{"name", "bench-" + std::to_string(u->index)}, {"platform", "builtin"}};
  u->device_id.clear();
  Result<json> r = co_await device_call(u, u->calls.get(), "POST", "/enroll", std::move(fields), 201);
  if (!r) co_return tl::unexpected(r.error());
  u->device_id = r->value("device_id", "");
  if (u->device_id.empty()) co_return fail(ErrorCode::kInternal, "enroll: no device_id");
  co_return ok();
}

namespace {

struct BrowserFlow {
  Page page;
  std::string nonce, state;
};

// Entra's browser POSTs the authorize form.
asio::awaitable<Result<BrowserFlow>> authorize(BalancedConnection* browser, const entra_sim::Tenant* tenant,
                                               std::string client_id, std::string hint) {
  BrowserFlow f;
  f.nonce = random_token(24);
  f.state = random_token(16);
  entra_sim::AuthorizeSpec spec;
  spec.client_id = client_id;
  spec.hint = std::move(hint);
  spec.nonce = f.nonce;
  spec.state = f.state;
  std::string body = entra_sim::form_encode(tenant->authorize_form(spec));
  Headers h;
  h.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  h.emplace_back("User-Agent", std::string(kUserAgent));
  h.emplace_back("Accept", "text/html");
  std::string target = "/entra/" + client_id + "/authorize";
  Result<HttpResponse> r =
      co_await browser->request("POST", std::move(target), std::move(h), std::move(body), kRequestTimeout);
  if (!r) co_return tl::unexpected(r.error());
  Result<Page> page = parse_page(*r);
  if (!page) co_return tl::unexpected(page.error());
  f.page = std::move(*page);
  co_return f;
}

// One page long-poll: GET <wait>?seen=<view>. → the flow JSON.
asio::awaitable<Result<json>> page_wait(BalancedConnection* browser, const Page* page, std::string seen) {
  Headers h;
  h.emplace_back("Cookie", "avow_flow=" + page->cookie);
  h.emplace_back("Accept", "application/json");
  h.emplace_back("User-Agent", std::string(kUserAgent));
  std::string target = page->wait_url + "?seen=" + pct(seen);
  Result<HttpResponse> r = co_await browser->request("GET", std::move(target), std::move(h), "", kRequestTimeout);
  if (!r) co_return tl::unexpected(r.error());
  if (r->status != 200) co_return tl::unexpected(step_error("page wait", excerpt(*r)));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) co_return tl::unexpected(step_error("page wait", "not JSON"));
  co_return j;
}

// Waits as the page does until the sign-in is no longer pending (or, with `until_number`, shows a number).
asio::awaitable<Result<json>> page_wait_until(BalancedConnection* browser, const Page* page, bool until_number) {
  std::string seen = page->view;
  for (int i = 0; i < 20; ++i) {
    Result<json> j = co_await page_wait(browser, page, seen);
    if (!j) co_return j;
    const std::string state = j->value("state", "");
    seen = j->value("view", "");
    if (state != "pending") co_return j;
    if (until_number && seen.rfind("number:", 0) == 0) co_return j;
  }
  co_return tl::unexpected(step_error("page wait", "still pending after 20 waits"));
}

// The page submits its finish form. → the form_post's fields.
asio::awaitable<Result<std::vector<std::pair<std::string, std::string>>>> finish(BalancedConnection* browser,
                                                                                 const Page* page, std::string origin) {
  Headers h;
  h.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  h.emplace_back("Cookie", "avow_flow=" + page->cookie);
  h.emplace_back("Origin", std::move(origin));
  h.emplace_back("User-Agent", std::string(kUserAgent));
  std::string target = page->finish_url;
  Result<HttpResponse> r = co_await browser->request("POST", std::move(target), std::move(h), "", kRequestTimeout);
  if (!r) co_return tl::unexpected(r.error());
  co_return parse_form_post(*r);
}

}  // namespace

// Waits (on the user's strand) until `pred` holds or `timeout` passes; `timer` is cancelled to wake it.
#define AVOW_BENCH_WAIT(timer, cond, timeout, ok_var)  \
  do {                                                 \
    const auto deadline_ = Steady::now() + (timeout);  \
    ok_var = true;                                     \
    while (!(cond)) {                                  \
      if (Steady::now() >= deadline_) {                \
        ok_var = false;                                \
        break;                                         \
      }                                                \
      (timer).expires_at(deadline_);                   \
      error_code wait_ec_;                             \
      co_await (timer).async_wait(redirect(wait_ec_)); \
    }                                                  \
  } while (0)

asio::awaitable<Status> World::setup_user(User* u, std::string hint) {
  Status enrolled = co_await enroll(u);
  if (!enrolled) co_return enrolled;
  BalancedConnection browser(u->strand, endpoints_, &u->turn, next_source());
  Result<BrowserFlow> f = co_await authorize(&browser, &*tenant_, client_id_, std::move(hint));
  if (!f) co_return tl::unexpected(f.error());
  const Page& page = f->page;
  if (page.scan_url.empty()) co_return fail(ErrorCode::kInternal, "first sign-in: the page shows no ScanCode");
  json scan = {{"code", page.scan_url.substr(page.scan_url.rfind('/') + 1)}};
  Result<json> bound = co_await device_call(u, u->calls.get(), "POST", "/scan", std::move(scan), 200);
  if (!bound) co_return tl::unexpected(bound.error());
  if (bound->value("result", "") != "bound") co_return fail(ErrorCode::kInternal, "scan: not bound");
  Result<json> shown = co_await page_wait_until(&browser, &page, true);
  if (!shown) co_return tl::unexpected(shown.error());
  const int number = shown->value("number", 0);
  Result<json> list = co_await device_call(u, u->calls.get(), "GET", "/challenges?wait=5", json(), 200);
  if (!list) co_return tl::unexpected(list.error());
  json challenge;
  for (const auto& c : list->value("challenges", json::array()))
    if (c.value("id", "") == page.challenge_id) challenge = c;
  if (challenge.is_null()) co_return fail(ErrorCode::kInternal, "first sign-in: the push did not reach the device");
  json answer = {{"challenge", page.challenge_id},
                 {"action", "approve"},
                 {"number", number},
                 {"context_hash", device::context_hash(challenge["context"])}};
  Result<json> a = co_await device_call(u, u->calls.get(), "POST", "/challenges/" + page.challenge_id + "/answer",
                                        std::move(answer), 200);
  if (!a) co_return tl::unexpected(a.error());
  Result<json> decided = co_await page_wait_until(&browser, &page, false);
  if (!decided) co_return tl::unexpected(decided.error());
  if (decided->value("state", "") != "approved")
    co_return fail(ErrorCode::kInternal, "first sign-in ended " + decided->value("state", ""));
  auto post = co_await finish(&browser, &page, base_url_);
  if (!post) co_return tl::unexpected(post.error());
  browser.close();
  entra_sim::IdTokenExpectation expect;
  expect.issuer = issuer_;
  expect.client_id = client_id_;
  expect.sub = u->sub;
  expect.nonce = f->nonce;
  Result<json> claims = entra_sim::validate_id_token(field(*post, "id_token"), provider_keys_, expect,
                                                     SystemClock::instance().unix_now());
  if (!claims) co_return fail(ErrorCode::kInternal, "first sign-in id_token: " + claims.error().message);
  co_return ok();
}

Status World::setup_users(std::size_t concurrency) {
  std::vector<const User*> all;
  for (auto& u : users_)
    if (u->device_id.empty()) all.push_back(u.get());
  std::vector<std::string> hints = mint_hints(all);
  concurrency = std::max<std::size_t>(1, concurrency);
  for (std::size_t i = 0; i < all.size(); i += concurrency) {
    std::vector<std::future<Status>> batch;
    for (std::size_t k = i; k < std::min(all.size(), i + concurrency); ++k) {
      User* u = const_cast<User*>(all[k]);
      batch.push_back(asio::co_spawn(u->strand, setup_user(u, std::move(hints[k])), asio::use_future));
    }
    for (auto& f : batch) {
      Status s = f.get();
      if (!s) return fail(s.error().code, "setting up users: " + s.error().message);
    }
  }
  return ok();
}

namespace {
struct LogDeviceExit {
  std::atomic<std::size_t>* running;
  void operator()(std::exception_ptr e) const {
    running->fetch_sub(1);
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "device loop failed: %s\n", ex.what());
    }
  }
};
}  // namespace

void World::start_devices() {
  for (auto& u : users_) {
    devices_running_.fetch_add(1);
    asio::co_spawn(u->strand, device_loop(u.get()), LogDeviceExit{&devices_running_});
  }
}

void World::stop_devices() {
  stopping_ = true;
  for (auto& u : users_) {
    User* raw = u.get();
    asio::post(u->strand, [raw] {
      raw->poll->close();
      raw->to_device->cancel();
    });
  }
  for (int i = 0; i < 500 && devices_running_.load() > 0; ++i) std::this_thread::sleep_for(10ms);
}

// A phone: parks a long-poll; for each push, waits until its person has read the number off the page, then
// approves with that number (a signed answer), and polls again.
asio::awaitable<void> World::device_loop(User* u) {
  while (!stopping_) {
    Result<json> r = co_await device_call(u, u->poll.get(), "GET",
                                          "/challenges?wait=" + std::to_string(kDevicePollSeconds), json(), 200);
    if (stopping_) break;
    if (!r) {
      asio::steady_timer pause(u->strand, 200ms);
      error_code ec;
      co_await pause.async_wait(redirect(ec));
      continue;
    }
    const SteadyTime seen = Steady::now();
    for (const auto& c : r->value("challenges", json::array())) {
      const std::string id = c.value("id", "");
      bool ready = false;
      AVOW_BENCH_WAIT(*u->to_device, stopping_ || (u->slot.ready && u->slot.challenge_id == id), 30s, ready);
      if (stopping_) co_return;
      json fields = {{"challenge", id}, {"context_hash", device::context_hash(c["context"])}};
      if (ready) {
        fields["action"] = "approve";
        fields["number"] = u->slot.number;
        u->slot.seen = seen;
        u->slot.answer_start = Steady::now();
      } else {
        fields["action"] = "deny";  // a stale push nobody is looking at
      }
      Result<json> a =
          co_await device_call(u, u->calls.get(), "POST", "/challenges/" + id + "/answer", std::move(fields), 200);
      if (!ready) continue;
      u->slot.answer_end = Steady::now();
      u->slot.answered = true;
      if (!a)
        u->slot.error = a.error().message;
      else if (a->value("state", "") != "approved")
        u->slot.error = "answer: " + a->dump();
      u->to_flow->cancel();
    }
  }
}

asio::awaitable<Result<FlowRecord>> World::bound_flow(User* u, std::string hint) {
  u->slot = User::Slot{};
  const SteadyTime t0 = Steady::now();
  BalancedConnection browser(u->strand, endpoints_, &u->turn, next_source());
  Result<BrowserFlow> f = co_await authorize(&browser, &*tenant_, client_id_, std::move(hint));
  if (!f) co_return tl::unexpected(f.error());
  const SteadyTime t_page = Steady::now();
  const Page& page = f->page;
  if (!page.scan_url.empty() || page.number == 0)
    co_return tl::unexpected(step_error("authorize", "a bound user's page should show a number"));
  // The person reads the number; the phone may already show the push.
  u->slot.challenge_id = page.challenge_id;
  u->slot.number = page.number;
  u->slot.ready = true;
  u->to_device->cancel();
  // Meanwhile the page long-polls until the sign-in is decided.
  Result<json> decided = co_await page_wait_until(&browser, &page, false);
  if (!decided) co_return tl::unexpected(decided.error());
  const SteadyTime t_decided = Steady::now();
  if (decided->value("state", "") != "approved")
    co_return tl::unexpected(step_error("page wait", "ended " + decided->dump() + " " + u->slot.error));
  auto post = co_await finish(&browser, &page, base_url_);
  if (!post) co_return tl::unexpected(post.error());
  const SteadyTime t_finished = Steady::now();
  browser.close();
  entra_sim::IdTokenExpectation expect;
  expect.issuer = issuer_;
  expect.client_id = client_id_;
  expect.sub = u->sub;
  expect.nonce = f->nonce;
  Result<json> claims = entra_sim::validate_id_token(field(*post, "id_token"), provider_keys_, expect,
                                                     SystemClock::instance().unix_now());
  if (!claims) co_return tl::unexpected(step_error("id_token", claims.error().message));
  if (field(*post, "state") != f->state) co_return tl::unexpected(step_error("finish", "state not echoed"));
  bool answered = false;
  AVOW_BENCH_WAIT(*u->to_flow, u->slot.answered, 10s, answered);
  if (!answered) co_return tl::unexpected(step_error("answer", "the device's answer never completed"));
  if (!u->slot.error.empty()) co_return tl::unexpected(step_error("answer", u->slot.error));
  const SteadyTime t_end = Steady::now();
  FlowRecord rec;
  rec.authorize = ms_between(t0, t_page);
  rec.push = ms_between(t0, u->slot.seen);
  rec.answer = ms_between(u->slot.answer_start, u->slot.answer_end);
  rec.page_sees = ms_between(u->slot.answer_start, t_decided);
  rec.finish = ms_between(t_decided, t_finished);
  rec.approve_to_finished = ms_between(u->slot.answer_start, t_finished);
  rec.total = ms_between(t0, t_end);
  rec.ended = t_end;
  co_return rec;
}

asio::awaitable<Result<World::ParkedPage>> World::open_unbound_page(User* u, std::string hint) {
  BalancedConnection browser(u->strand, endpoints_, &u->turn, next_source());
  Result<BrowserFlow> f = co_await authorize(&browser, &*tenant_, client_id_, std::move(hint));
  if (!f) co_return tl::unexpected(f.error());
  if (f->page.scan_url.empty()) co_return tl::unexpected(step_error("authorize", "expected a ScanCode page"));
  ParkedPage p;
  p.wait_target = f->page.wait_url + "?seen=" + pct(f->page.view);
  p.cookie = "avow_flow=" + f->page.cookie;
  co_return p;
}

}  // namespace avow::bench
