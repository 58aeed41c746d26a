// avow-entra-sim — plays Microsoft Entra ID for Avow's tests and demos.
//
//   avow-entra-sim serve --listen 127.0.0.1:0 --state-dir DIR [--tls-dev] [--ca-file PEM] [--public-url URL]
//       prints one JSON line {"url","port","keys_url","redirect_uri","kid","tls","ca_file"} once listening;
//       runs until SIGTERM/SIGINT.
//   avow-entra-sim mint --state-dir DIR --directory-id G --aud APP [--tid G] [--oid G] [--sub S] [--v1]
//       [--iat UNIX] [--kid KID] [--iss URL]                        prints a hint
//   avow-entra-sim form --client-id C (--hint H | --state-dir DIR --directory-id G --aud APP …)
//       [--nonce N] [--state S] [--custom-control] [--redirect-uri U] [--json]
//                                                                   prints the urlencoded authorize body
//   avow-entra-sim validate --discovery-url U --id-token T --client-id C --sub S --nonce N
//       [--custom-control] [--ca-file PEM]                          Entra's checks; prints the claims
//   avow-entra-sim check-provider --discovery-url U [--ca-file PEM]
//       Entra's checks of a provider's metadata: discovery rules, bare GET authorize = 200, JWKS x5c/x5t/kid
//
// Exit codes: 0 ok, 1 refused (validate: a rule broken), 2 usage, 3 start-up failure.
#include <utility>  // before Asio: asio#944

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/random.h"
#include "http/metrics.h"
#include "http/server.h"
#include "tools/entra-sim/forms.h"
#include "tools/entra-sim/receiver.h"
#include "tools/entra-sim/sim_server.h"
#include "tools/entra-sim/state.h"

namespace {

using namespace avow;
using namespace avow::entra_sim;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;

struct HintFlags {
  std::string state_dir, directory_id, tid, oid, sub, aud, name, username, kid, iss, cloud = "global";
  bool v1 = false;
  std::int64_t iat = 0;
};

void add_hint_flags(CLI::App* cmd, HintFlags& f, bool required) {
  auto* dir = cmd->add_option("--state-dir", f.state_dir, "directory holding Microsoft's key (made on first use)");
  auto* directory = cmd->add_option("--directory-id", f.directory_id, "the tenant signed in to (names the issuer)");
  auto* aud = cmd->add_option("--aud", f.aud, "the provider's App ID (the hint's audience)");
  if (required) {
    dir->required();
    directory->required();
    aud->required();
  }
  cmd->add_option("--tid", f.tid, "the user's home tenant (default: the directory; another one for a B2B guest)");
  cmd->add_option("--oid", f.oid, "the user's object id (default: a fresh GUID)");
  cmd->add_option("--sub", f.sub, "the pairwise subject");
  cmd->add_option("--name", f.name, "display name");
  cmd->add_option("--username", f.username, "preferred_username / upn");
  cmd->add_flag("--v1", f.v1, "v1 issuer form https://sts.windows.net/{tenant}/ (custom controls)");
  cmd->add_option("--iat", f.iat, "issued-at, Unix seconds (default now)");
  cmd->add_option("--kid", f.kid, "put this kid in the header instead of the key's");
  cmd->add_option("--iss", f.iss, "replace the issuer (tests of foreign issuers)");
  cmd->add_option("--cloud", f.cloud, "global | usgov | china")->check(CLI::IsMember({"global", "usgov", "china"}));
}

Cloud parse_cloud(const std::string& s) {
  if (s == "usgov") return Cloud::kUsGov;
  if (s == "china") return Cloud::kChina;
  return Cloud::kGlobal;
}

Result<std::string> mint_from_flags(const HintFlags& f) {
  auto tenant = load_or_create_tenant(f.state_dir, parse_cloud(f.cloud));
  if (!tenant) return tl::unexpected(tenant.error());
  HintSpec spec;
  spec.directory_id = f.directory_id;
  spec.tid = f.tid.empty() ? f.directory_id : f.tid;
  spec.oid = f.oid.empty() ? new_id() : f.oid;
  spec.aud = f.aud;
  if (!f.sub.empty()) spec.sub = f.sub;
  if (!f.name.empty()) spec.name = f.name;
  if (!f.username.empty()) spec.username = f.username;
  spec.version = f.v1 ? 1 : 2;
  spec.iat = f.iat;
  if (!f.kid.empty()) spec.kid_override = f.kid;
  if (!f.iss.empty()) spec.issuer_override = f.iss;
  return tenant->mint_hint(spec, SystemClock::instance().unix_now());
}

// "HOST:PORT" or "[V6]:PORT".
bool split_listen(const std::string& text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    const int p = std::stoi(text.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return !host.empty();
}

struct ServeFlags {
  std::string listen = "127.0.0.1:0", state_dir, ca_file, public_url, cloud = "global";
  bool tls_dev = false;
  std::size_t threads = 2;
};

int serve(const ServeFlags& f) {
  auto tenant = load_or_create_tenant(f.state_dir, parse_cloud(f.cloud));
  if (!tenant) {
    std::cerr << "avow-entra-sim: " << tenant.error().message << "\n";
    return kExitFailure;
  }
  http::ServerOptions options;
  if (!split_listen(f.listen, options.host, options.port)) {
    std::cerr << "avow-entra-sim: --listen must be HOST:PORT\n";
    return kExitUsage;
  }
  options.threads = f.threads;
  options.blocking_threads = 4;
  std::string ca_out;
  if (f.tls_dev) {
    auto tls = ensure_sim_tls(f.state_dir);
    if (!tls) {
      std::cerr << "avow-entra-sim: " << tls.error().message << "\n";
      return kExitFailure;
    }
    options.tls = http::TlsFiles{tls->cert_file, tls->key_file};
    ca_out = tls->cert_file;
  }
  entra::FetchOptions fetch;
  fetch.allow_loopback_http = true;  // the discovery rules still demand https; this only lets the fetch happen
  fetch.ca_file = f.ca_file;

  http::Metrics metrics("entra-sim");
  http::Server server(options, metrics);
  auto ctx = std::make_shared<SimContext>(SimContext{.tenant = *tenant,
                                                     .ledger = std::make_shared<SignInLedger>(),
                                                     .fetcher = std::make_shared<entra::CurlKeyFetcher>(fetch),
                                                     .pool = &server.blocking_pool(),
                                                     .clock = &SystemClock::instance(),
                                                     .base_url = {}});
  if (Status s = add_sim_routes(server.router(), ctx); !s) {
    std::cerr << "avow-entra-sim: " << s.error().message << "\n";
    return kExitFailure;
  }
  auto bound = server.start();
  if (!bound) {
    std::cerr << "avow-entra-sim: " << bound.error().message << "\n";
    return kExitFailure;
  }
  if (!f.public_url.empty()) {
    ctx->base_url = f.public_url;
    while (ctx->base_url.ends_with('/')) ctx->base_url.pop_back();
  } else {
    std::string host = options.host;
    if (host == "0.0.0.0" || host == "::") host = "localhost";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    ctx->base_url = std::string(bound->tls ? "https://" : "http://") + host + ":" + std::to_string(bound->port);
  }
  json line = {{"url", ctx->base_url},        {"port", bound->port},
               {"keys_url", ctx->keys_url()}, {"redirect_uri", ctx->redirect_uri()},
               {"kid", tenant->key().kid()},  {"tls", bound->tls}};
  if (!ca_out.empty()) line["ca_file"] = ca_out;
  std::cout << line.dump() << std::endl;
  std::cerr << "Simulated Microsoft sign-in page: " << ctx->base_url << "/\n";
  log::info("entra simulator listening", {{"url", ctx->base_url}});
  server.run();
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"avow-entra-sim — plays Microsoft Entra ID (keys, hints, authorize form, answer checks) for Avow"};
  app.require_subcommand(1);

  ServeFlags serve_flags;
  CLI::App* serve_cmd = app.add_subcommand("serve", "serve Microsoft's keys, the answer receiver and a demo page");
  serve_cmd->alias("demo");  // `avow-entra-sim demo`: the same server; its page at / walks a person through a sign-in
  serve_cmd->add_option("--listen", serve_flags.listen, "HOST:PORT (default 127.0.0.1:0, any free port)");
  serve_cmd->add_option("--state-dir", serve_flags.state_dir, "directory holding Microsoft's key")->required();
  serve_cmd->add_flag("--tls-dev", serve_flags.tls_dev, "serve HTTPS with a self-signed localhost certificate");
  serve_cmd->add_option("--ca-file", serve_flags.ca_file,
                        "PEM CAs trusted when fetching a provider's discovery and JWKS (e.g. avowd's dev certificate)");
  serve_cmd->add_option("--public-url", serve_flags.public_url, "the simulator's external base URL");
  serve_cmd->add_option("--threads", serve_flags.threads, "event-loop threads")->check(CLI::Range(1, 64));
  serve_cmd->add_option("--cloud", serve_flags.cloud, "global | usgov | china")
      ->check(CLI::IsMember({"global", "usgov", "china"}));

  HintFlags mint_flags;
  CLI::App* mint_cmd = app.add_subcommand("mint", "print an id_token_hint as Microsoft issues it");
  add_hint_flags(mint_cmd, mint_flags, true);

  HintFlags form_hint;
  std::string client_id, hint, nonce, state, redirect_uri, claim_type = "AvowMfa", claim_value = "MfaDone";
  bool custom_control = false, no_state = false, form_json = false;
  CLI::App* form_cmd = app.add_subcommand("form", "print the urlencoded authorize POST body Entra's browser sends");
  form_cmd->add_option("--client-id", client_id, "the provider's client id")->required();
  form_cmd->add_option("--hint", hint, "the id_token_hint (default: mint one with the hint flags)");
  add_hint_flags(form_cmd, form_hint, false);
  form_cmd->add_option("--nonce", nonce, "nonce (default random)");
  form_cmd->add_option("--state", state, "state (default random)");
  form_cmd->add_flag("--no-state", no_state, "send no state");
  form_cmd->add_flag("--custom-control", custom_control, "a Conditional Access custom control request");
  form_cmd->add_option("--claim-type", claim_type, "custom control: the requested claim (default AvowMfa)");
  form_cmd->add_option("--claim-value", claim_value, "custom control: its value (default MfaDone)");
  form_cmd->add_option("--redirect-uri", redirect_uri, "redirect_uri (default Microsoft's for the flavour)");
  form_cmd->add_flag("--json", form_json, "print the fields as a JSON object instead");

  std::string discovery_url, id_token, sub, ca_file;
  CLI::App* validate_cmd = app.add_subcommand("validate", "check a provider's id_token as Entra does");
  validate_cmd->add_option("--discovery-url", discovery_url, "the provider's discovery URL")->required();
  validate_cmd->add_option("--id-token", id_token, "the posted id_token ('-' reads stdin)")->required();
  validate_cmd->add_option("--client-id", client_id, "the client id Entra sent")->required();
  validate_cmd->add_option("--sub", sub, "the hint's sub")->required();
  validate_cmd->add_option("--nonce", nonce, "the nonce Entra sent")->required();
  validate_cmd->add_flag("--custom-control", custom_control, "expect the custom control claim instead of acr/amr");
  validate_cmd->add_option("--claim-type", claim_type, "custom control: the requested claim (default AvowMfa)");
  validate_cmd->add_option("--claim-value", claim_value, "custom control: its value (default MfaDone)");
  validate_cmd->add_option("--ca-file", ca_file, "PEM CAs trusted for the provider (e.g. avowd's dev certificate)");

  std::string check_url;
  CLI::App* check_cmd = app.add_subcommand(
      "check-provider", "check a provider's discovery document, authorize probe and JWKS as Entra does");
  check_cmd->add_option("--discovery-url", check_url, "the provider's discovery URL")->required();
  check_cmd->add_option("--ca-file", ca_file, "PEM CAs trusted for the provider (e.g. avowd's dev certificate)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  log::init(log::Level::kWarn);

  if (serve_cmd->parsed()) {
    log::init(log::Level::kInfo);
    return serve(serve_flags);
  }

  if (mint_cmd->parsed()) {
    auto h = mint_from_flags(mint_flags);
    if (!h) {
      std::cerr << "avow-entra-sim: " << h.error().message << "\n";
      return kExitFailure;
    }
    std::cout << *h << "\n";
    return kExitOk;
  }

  if (form_cmd->parsed()) {
    if (hint.empty()) {
      if (form_hint.state_dir.empty() || form_hint.directory_id.empty() || form_hint.aud.empty()) {
        std::cerr << "avow-entra-sim: form needs --hint, or --state-dir, --directory-id and --aud to mint one\n";
        return kExitUsage;
      }
      if (custom_control && !form_hint.v1) form_hint.v1 = true;  // custom controls receive v1 hints
      auto h = mint_from_flags(form_hint);
      if (!h) {
        std::cerr << "avow-entra-sim: " << h.error().message << "\n";
        return kExitFailure;
      }
      hint = *h;
    }
    // The form does not depend on the key: a throwaway tenant builds it.
    auto tenant = Tenant::create(parse_cloud(form_hint.cloud));
    if (!tenant) {
      std::cerr << "avow-entra-sim: " << tenant.error().message << "\n";
      return kExitFailure;
    }
    AuthorizeSpec spec{.flavor = custom_control ? Flavor::kCustomControl : Flavor::kEam,
                       .client_id = client_id,
                       .hint = hint,
                       .nonce = nonce.empty() ? random_token(16) : nonce,
                       .state = no_state ? std::nullopt : std::optional(state.empty() ? random_token(16) : state),
                       .claim_type = claim_type,
                       .claim_value = claim_value,
                       .redirect_uri = redirect_uri};
    FormFields fields = tenant->authorize_form(spec);
    if (form_json) {
      json out = json::object();
      for (const auto& [k, v] : fields) out[k] = v;
      std::cout << out.dump() << "\n";
    } else {
      std::cout << form_encode(fields) << "\n";
    }
    return kExitOk;
  }

  if (check_cmd->parsed()) {
    entra::FetchOptions fetch;
    fetch.allow_loopback_http = true;
    fetch.ca_file = ca_file;
    entra::CurlKeyFetcher fetcher(fetch);
    auto checked = check_provider(fetcher, check_url);
    if (!checked) {
      std::cerr << "avow-entra-sim: rejected: " << checked.error().message << "\n";
      return kExitRefused;
    }
    std::cout << checked->dump() << "\n";
    return kExitOk;
  }

  if (validate_cmd->parsed()) {
    if (id_token == "-") {
      std::getline(std::cin, id_token);
    }
    entra::FetchOptions fetch;
    fetch.allow_loopback_http = true;
    fetch.ca_file = ca_file;
    entra::CurlKeyFetcher fetcher(fetch);
    PendingSignIn pending{.state = "cli",
                          .discovery_url = discovery_url,
                          .client_id = client_id,
                          .nonce = nonce,
                          .sub = sub,
                          .flavor = custom_control ? Flavor::kCustomControl : Flavor::kEam,
                          .claim_type = claim_type,
                          .claim_value = claim_value};
    FormFields posted = {{"id_token", id_token}, {"state", "cli"}};
    ReceivedAnswer a = check_provider_answer(posted, pending, fetcher, SystemClock::instance().unix_now());
    if (a.outcome != ReceivedAnswer::Outcome::kAccepted) {
      std::cerr << "avow-entra-sim: rejected: " << a.error_description << "\n";
      return kExitRefused;
    }
    std::cout << a.claims.dump() << "\n";
    return kExitOk;
  }
  return kExitUsage;
}
