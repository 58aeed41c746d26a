#include "server/admin_cli.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <ostream>

#include <CLI/CLI.hpp>

#include "common/logging.h"
#include "common/random.h"
#include "domain/integrations.h"
#include "domain/sign_in.h"
#include "domain/users.h"
#include "domain/validation.h"
#include "entra/provider.h"
#include "server/app.h"
#include "store/repositories.h"
#include "store/transfer.h"

namespace avow::server {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// What a failed step means for the exit status: bad input is a usage error, the rest are failures.
int exit_code_for(const Error& e) { return e.code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure; }

int report(std::ostream& err, std::string_view command, const Error& e) {
  err << "avowd admin" << (command.empty() ? "" : " ") << command << ": " << e.message << "\n";
  return exit_code_for(e);
}

std::string iso_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json org_json(const store::OrgRecord& o) {
  return {{"id", o.id}, {"name", o.name}, {"created_at", iso_time(o.created_at)}};
}

json integration_summary_json(const store::IntegrationRecord& i) {
  return {{"id", i.id},
          {"org_id", i.org_id},
          {"name", i.name},
          {"client_id", i.client_id},
          {"directory_id", i.directory_id},
          {"cloud", store::to_string(i.cloud)},
          {"status", store::to_string(i.status)}};
}

Result<std::vector<store::OrgRecord>> all_orgs(store::Db& db) {
  constexpr int kPage = 100;
  std::vector<store::OrgRecord> out;
  for (int offset = 0;; offset += kPage) {
    Result<std::vector<store::OrgRecord>> page = store::OrgRepo(db).list(kPage, offset);
    if (!page) return tl::unexpected(page.error());
    out.insert(out.end(), page->begin(), page->end());
    if (static_cast<int>(page->size()) < kPage) return out;
  }
}

// ORG: an org id, or the exact name of exactly one org. kNotFound / kInvalidArgument (ambiguous name).
Result<store::OrgRecord> resolve_org(store::Db& db, std::string_view org) {
  const std::string_view key = domain::trim(org);
  if (key.empty()) return fail(ErrorCode::kInvalidArgument, "--org must not be empty");
  if (is_guid(key)) {
    Result<store::OrgRecord> o = store::OrgRepo(db).get(normalize_guid(key));
    if (o || o.error().code != ErrorCode::kNotFound) return o;
  }
  Result<std::vector<store::OrgRecord>> orgs = all_orgs(db);
  if (!orgs) return tl::unexpected(orgs.error());
  std::optional<store::OrgRecord> match;
  for (auto& o : *orgs) {
    if (o.name != key) continue;
    if (match)
      return fail(ErrorCode::kInvalidArgument,
                  "--org: more than one org is named '" + std::string(key) + "'; use its id");
    match = std::move(o);
  }
  if (!match) return fail(ErrorCode::kNotFound, "org '" + std::string(key) + "' not found");
  return *match;
}

// ID_OR_CLIENT_ID: the integration's id, else its client id. kNotFound.
Result<store::IntegrationRecord> resolve_integration(store::Db& db, std::string_view id_or_client_id) {
  const std::string_view key = domain::trim(id_or_client_id);
  if (key.empty()) return fail(ErrorCode::kInvalidArgument, "an integration id or client id is required");
  const std::string k = is_guid(key) ? normalize_guid(key) : std::string(key);
  store::IntegrationRepo repo(db);
  Result<store::IntegrationRecord> by_id = repo.get(k);
  if (by_id || by_id.error().code != ErrorCode::kNotFound) return by_id;
  Result<std::optional<store::IntegrationRecord>> by_client = repo.find_by_client_id(k);
  if (!by_client) return tl::unexpected(by_client.error());
  if (!*by_client) return fail(ErrorCode::kNotFound, "integration '" + std::string(key) + "' not found");
  return std::move(**by_client);
}

std::string guests_text(const store::IntegrationRecord& i) {
  switch (i.guest_policy) {
    case store::GuestPolicy::kAny:
      return "any (B2B guests from every home tenant)";
    case store::GuestPolicy::kMembers:
      return "members (only users whose home tenant is the directory)";
    case store::GuestPolicy::kList: {
      std::string s = "list (members, and guests from:";
      for (const auto& t : i.guest_tenants) s += " " + t;
      return s + ")";
    }
  }
  return "?";
}

void print_integration(const store::IntegrationRecord& i, const std::optional<store::OrgRecord>& org,
                       std::string_view public_url, std::ostream& out) {
  const entra::ProviderUrls urls = entra::provider_urls(public_url, i.client_id);
  auto row = [&out](std::string_view label, std::string_view value) {
    out << "  " << std::left << std::setw(20) << label << value << "\n";
  };
  out << "Integration " << i.name << "\n";
  row("id", i.id);
  row("org", org ? org->name + " (" + org->id + ")" : i.org_id);
  row("status", store::to_string(i.status));
  row("cloud", store::to_string(i.cloud));
  row("directory id", i.directory_id);
  row("app id", i.app_id.value_or("(none)"));
  row("client id", i.client_id);
  row("guests", guests_text(i));
  row("claim", i.claim_type + " = " + i.claim_value);
  row("created", iso_time(i.created_at));
  row("last success", i.last_success_at ? iso_time(*i.last_success_at) : "never");
  out << "\nEntra admin center > Protection > Authentication methods > Add external method:\n";
  row("Name", i.name);
  row("Client ID", i.client_id);
  row("Discovery Endpoint", urls.discovery_url);
  row("App ID", i.app_id.value_or("(set --app-id first)"));
  out << "\nConditional Access > Custom controls > New custom control (paste this JSON):\n"
      << entra::custom_control_json(i, public_url).dump(2) << "\n";
  out << "\nProvider endpoints:\n";
  row("issuer", urls.issuer);
  row("authorize", urls.authorize_url);
  row("jwks", urls.jwks_url);
  if (!public_url.starts_with("https://"))
    out << "\nnote: the public URL is not https; Entra only calls https endpoints (set public_url).\n";
}

}  // namespace

ordered_json integration_settings_json(const store::IntegrationRecord& i, std::string_view public_url) {
  const entra::ProviderUrls urls = entra::provider_urls(public_url, i.client_id);
  const ordered_json app_id = i.app_id ? ordered_json(*i.app_id) : ordered_json(nullptr);
  return {{"id", i.id},
          {"org_id", i.org_id},
          {"name", i.name},
          {"status", store::to_string(i.status)},
          {"directory_id", i.directory_id},
          {"app_id", app_id},
          {"client_id", i.client_id},
          {"cloud", store::to_string(i.cloud)},
          {"guest_policy", store::to_string(i.guest_policy)},
          {"guest_tenants", i.guest_tenants},
          {"claim", {{"type", i.claim_type}, {"value", i.claim_value}}},
          {"created_at", iso_time(i.created_at)},
          {"last_success_at", i.last_success_at ? ordered_json(iso_time(*i.last_success_at)) : ordered_json(nullptr)},
          {"issuer", urls.issuer},
          {"discovery_url", urls.discovery_url},
          {"authorize_url", urls.authorize_url},
          {"jwks_url", urls.jwks_url},
          {"eam",
           {{"name", i.name}, {"client_id", i.client_id}, {"discovery_url", urls.discovery_url}, {"app_id", app_id}}},
          {"custom_control", entra::custom_control_json(i, public_url)}};
}

namespace {

// `admin export` / `admin import`: the summary both print, for an operator to compare.
void print_transfer_summary(const store::TransferSummary& s, std::string_view verb, std::string_view where,
                            bool as_json, std::ostream& out) {
  std::int64_t total = 0;
  for (const auto& t : s.tables) total += t.rows;
  if (as_json) {
    ordered_json tables = ordered_json::array();
    for (const auto& t : s.tables) tables.push_back({{"table", t.table}, {"rows", t.rows}, {"sha256", t.sha256}});
    out << ordered_json{{"schema_version", s.schema_version}, {"rows", total}, {"tables", tables}}.dump(2) << "\n";
    return;
  }
  out << verb << " " << total << " rows in " << s.tables.size() << " tables (schema version " << s.schema_version
      << ") " << (verb == "Exported" ? "from " : "into ") << where << "\n";
  out << "  " << std::left << std::setw(24) << "TABLE" << std::right << std::setw(10) << "ROWS"
      << "  SHA-256\n";
  for (const auto& t : s.tables)
    out << "  " << std::left << std::setw(24) << t.table << std::right << std::setw(10) << t.rows << "  " << t.sha256
        << "\n";
}

std::string option_text(const CLI::App& cmd, const std::string& name) {
  const CLI::Option* o = cmd.get_option_no_throw(name);
  return o && o->count() > 0 ? o->as<std::string>() : std::string();
}

int run_export(const Config& c, const CLI::App& cmd, std::ostream& out, std::ostream& err) {
  const std::string file = option_text(cmd, "--out");
  const bool as_json = cmd.get_option_no_throw("--json") && cmd.get_option_no_throw("--json")->count() > 0;
  if (std::error_code ec; !c.database.postgres() && !std::filesystem::exists(c.database.path, ec)) {
    err << "avowd admin export: database: " << c.database.path << " does not exist\n";
    return kExitFailure;
  }
  store::DatabaseOptions options = database_options(c.database, /*create=*/false);
  options.pool_size = 1;
  Result<std::shared_ptr<store::Database>> db = store::open_database(options);
  if (!db) return report(err, "export", db.error());
  std::ofstream file_out;
  if (!file.empty() && file != "-") {
    if (std::error_code ec; std::filesystem::exists(file, ec)) {
      (*db)->close();
      return report(err, "export", Error{ErrorCode::kInvalidArgument, "--out " + file + " already exists"});
    }
    file_out.open(file, std::ios::binary);
    if (!file_out) {
      (*db)->close();
      return report(err, "export", Error{ErrorCode::kUnavailable, "cannot create " + file});
    }
    // Sealed keys and session hashes are in it: owner-only, like the data directory.
    std::error_code ec;
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  }
  const bool to_stdout = !file_out.is_open();
  Result<store::TransferSummary> s = store::export_database(**db, to_stdout ? out : file_out);
  (*db)->close();
  if (file_out.is_open()) file_out.close();
  if (!s || (file_out.is_open() && !file_out)) {
    if (!to_stdout) std::filesystem::remove(file);  // never leave half an export behind
    return report(err, "export", s ? Error{ErrorCode::kUnavailable, "writing " + file + " failed"} : s.error());
  }
  log::info("database exported", {{"tables", s->tables.size()}, {"schema_version", s->schema_version}});
  // With the data on standard output, the summary goes to standard error.
  print_transfer_summary(*s, "Exported", store::redact_database_url(c.database.url_or_path()), as_json,
                         to_stdout ? err : out);
  return kExitOk;
}

int run_import(const Config& c, const CLI::App& cmd, std::ostream& out, std::ostream& err) {
  const std::string file = option_text(cmd, "--in");
  const bool as_json = cmd.get_option_no_throw("--json") && cmd.get_option_no_throw("--json")->count() > 0;
  std::ifstream file_in;
  if (!file.empty() && file != "-") {
    file_in.open(file, std::ios::binary);
    if (!file_in) return report(err, "import", Error{ErrorCode::kInvalidArgument, "cannot read --in " + file});
  }
  store::DatabaseOptions options = database_options(c.database, /*create=*/true);
  options.pool_size = 1;
  Result<std::shared_ptr<store::Database>> db = store::open_database(options);
  if (!db) return report(err, "import", db.error());
  Result<store::TransferSummary> s = store::import_database(**db, file_in.is_open() ? file_in : std::cin);
  (*db)->close();
  if (!s) return report(err, "import", s.error());
  log::info("database imported", {{"tables", s->tables.size()}, {"schema_version", s->schema_version}});
  print_transfer_summary(*s, "Imported", store::redact_database_url(c.database.url_or_path()), as_json, out);
  return kExitOk;
}

}  // namespace

void AdminCli::attach(CLI::App& app, const std::function<void(CLI::App*)>& add_common) {
  admin_ = app.add_subcommand("admin", "manage orgs, Entra integrations and users");
  admin_->require_subcommand(1);

  CLI::App* org = admin_->add_subcommand("org", "organisations");
  org->require_subcommand(1);
  org_create_ = org->add_subcommand("create", "create an org");
  org_create_->add_option("--name", name_, "the org's name")->required();
  org_create_->add_flag("--json", json_, "print JSON");
  org_list_ = org->add_subcommand("list", "list orgs");
  org_list_->add_flag("--json", json_, "print JSON");

  CLI::App* integ = admin_->add_subcommand("integration", "Entra integrations (one per tenant)");
  integ->require_subcommand(1);
  int_create_ = integ->add_subcommand("create", "connect an Entra tenant");
  int_create_->add_option("--org", org_, "org id or name")->required();
  int_create_->add_option("--name", name_, "the integration's name, shown to users")->required();
  int_create_->add_option("--directory-id", directory_id_, "the tenant's Directory (tenant) ID")->required();
  int_create_->add_option("--app-id", app_id_, "Avow's application (client) ID in the tenant")->required();
  int_create_->add_option("--cloud", cloud_, "Microsoft cloud: global, usgov or china (default global)");
  int_create_->add_option("--guests", guests_, "B2B guests admitted: any, members or list (default any)");
  int_create_->add_option("--guest-tenant", guest_tenants_, "a guest home tenant admitted by --guests list (repeat)");
  int_create_->add_flag("--json", json_, "print JSON");
  int_list_ = integ->add_subcommand("list", "list integrations");
  int_list_->add_option("--org", org_, "only this org (id or name)");
  int_list_->add_flag("--json", json_, "print JSON");
  int_show_ = integ->add_subcommand("show", "show an integration and the values to enter in Entra");
  int_show_->add_option("id", target_, "integration id or client id")->required();
  int_show_->add_flag("--json", json_, "print JSON");
  int_disable_ = integ->add_subcommand("disable", "refuse sign-ins through an integration");
  int_disable_->add_option("id", target_, "integration id or client id")->required();
  int_enable_ = integ->add_subcommand("enable", "accept sign-ins through an integration again");
  int_enable_->add_option("id", target_, "integration id or client id")->required();

  CLI::App* user = admin_->add_subcommand("user", "Entra users known to Avow");
  user->require_subcommand(1);
  user_allow_device_ = user->add_subcommand("allow-device", "let a user bind one more device with a ScanCode");
  user_allow_device_->add_option("user_id", target_, "the user's id")->required();
  // Looked up by name in run(): the header stays as it is (other work edits it).
  CLI::App* unlock_codes = user->add_subcommand(
      "unlock-codes", "let a user whose fallback codes were locked (too many wrong codes) use codes again");
  unlock_codes->add_option("user_id", target_, "the user's id")->required();
  unlock_codes->add_flag("--json", json_, "print JSON");
  add_common(unlock_codes);

  // Moving all data between databases (store/transfer.h); looked up by name in run(), like unlock-codes.
  CLI::App* exp = admin_->add_subcommand(
      "export", "write every row of every table as JSON lines, and print per-table row counts and SHA-256");
  exp->add_option("--out", "file to create (refuses an existing one; default: standard output)");
  exp->add_flag("--json")->description("print the summary as JSON");
  add_common(exp);
  CLI::App* imp = admin_->add_subcommand(
      "import", "load an export into an empty database, verify it, and print the same counts and SHA-256");
  imp->add_option("--in", "export file to read (default: standard input)");
  imp->add_flag("--json")->description("print the summary as JSON");
  add_common(imp);

  for (CLI::App* leaf :
       {org_create_, org_list_, int_create_, int_list_, int_show_, int_disable_, int_enable_, user_allow_device_})
    add_common(leaf);
}

bool AdminCli::parsed() const { return admin_ && admin_->parsed(); }

int AdminCli::run(const Config& c, std::ostream& out, std::ostream& err) const {
  if (CLI::App* exp = admin_->get_subcommand("export"); exp->parsed()) return run_export(c, *exp, out, err);
  if (CLI::App* imp = admin_->get_subcommand("import"); imp->parsed()) return run_import(c, *imp, out, err);
  if (std::error_code ec; !c.database.postgres() && !std::filesystem::exists(c.database.path, ec)) {
    err << "avowd admin: database: " << c.database.path
        << " does not exist (check --data-dir / database.path, or run avowd serve once)\n";
    return kExitFailure;
  }
  store::DatabaseOptions options = database_options(c.database, /*create=*/false);
  options.pool_size = 1;
  Result<std::shared_ptr<store::Database>> db = store::open_database(options);
  if (!db) {
    err << "avowd admin: database: " << db.error().message << "\n";
    return kExitFailure;
  }
  if (Status m = (*db)->migrate(); !m) {
    err << "avowd admin: database migration: " << m.error().message << "\n";
    (*db)->close();
    return kExitFailure;
  }
  const std::string public_url =
      c.public_url.empty() ? derive_public_url(c.listen, c.tls.enabled() || c.dev) : c.public_url;
  const int rc = run(**db, SystemClock::instance(), public_url, out, err);
  (*db)->close();
  return rc;
}

int AdminCli::run(store::Database& database, const Clock& clock, std::string_view public_url, std::ostream& out,
                  std::ostream& err) const {
  Result<store::Connection> conn = database.connection();
  if (!conn) return report(err, "", conn.error());
  store::Db& db = **conn;

  if (org_create_->parsed()) {
    Result<std::string> name = domain::validate_name("--name", name_);
    if (!name) return report(err, "org create", name.error());
    store::OrgRecord o{new_id(), *name, clock.unix_now()};
    if (Status s = store::OrgRepo(db).create(o); !s) return report(err, "org create", s.error());
    log::info("org created", {{"org_id", o.id}});
    if (json_)
      out << org_json(o).dump(2) << "\n";
    else
      out << "Created org " << o.name << "\n  id  " << o.id << "\n";
    return kExitOk;
  }

  if (org_list_->parsed()) {
    Result<std::vector<store::OrgRecord>> orgs = all_orgs(db);
    if (!orgs) return report(err, "org list", orgs.error());
    if (json_) {
      json arr = json::array();
      for (const auto& o : *orgs) arr.push_back(org_json(o));
      out << json{{"orgs", arr}}.dump(2) << "\n";
    } else {
      out << std::left << std::setw(38) << "ID" << std::setw(22) << "CREATED"
          << "NAME\n";
      for (const auto& o : *orgs)
        out << std::setw(38) << o.id << std::setw(22) << iso_time(o.created_at) << o.name << "\n";
    }
    return kExitOk;
  }

  if (int_create_->parsed()) {
    Result<store::OrgRecord> org = resolve_org(db, org_);
    if (!org) return report(err, "integration create", org.error());
    domain::IntegrationSpec spec;
    spec.name = name_;
    spec.directory_id = directory_id_;
    spec.app_id = app_id_;
    spec.cloud = cloud_;
    spec.guest_policy = guests_;
    spec.guest_tenants = guest_tenants_;
    if (domain::trim(app_id_).empty())
      return report(err, "integration create", Error{ErrorCode::kInvalidArgument, "--app-id must not be empty"});
    Result<store::IntegrationRecord> i = domain::IntegrationService(db, clock).create(org->id, spec);
    if (!i) return report(err, "integration create", i.error());
    log::info("integration created", {{"integration_id", i->id}, {"org_id", i->org_id}});
    if (json_)
      out << integration_settings_json(*i, public_url).dump(2) << "\n";
    else
      print_integration(*i, *org, public_url, out);
    return kExitOk;
  }

  if (int_list_->parsed()) {
    std::vector<store::OrgRecord> orgs;
    if (!org_.empty()) {
      Result<store::OrgRecord> org = resolve_org(db, org_);
      if (!org) return report(err, "integration list", org.error());
      orgs.push_back(*org);
    } else {
      Result<std::vector<store::OrgRecord>> all = all_orgs(db);
      if (!all) return report(err, "integration list", all.error());
      orgs = std::move(*all);
    }
    json arr = json::array();
    if (!json_)
      out << std::left << std::setw(38) << "ID" << std::setw(38) << "CLIENT ID" << std::setw(10) << "STATUS"
          << std::setw(8) << "CLOUD"
          << "NAME (ORG)\n";
    for (const auto& o : orgs) {
      Result<std::vector<store::IntegrationRecord>> list = store::IntegrationRepo(db).list_by_org(o.id);
      if (!list) return report(err, "integration list", list.error());
      for (const auto& i : *list) {
        if (json_) {
          arr.push_back(integration_summary_json(i));
        } else {
          out << std::setw(38) << i.id << std::setw(38) << i.client_id << std::setw(10) << store::to_string(i.status)
              << std::setw(8) << store::to_string(i.cloud) << i.name << " (" << o.name << ")\n";
        }
      }
    }
    if (json_) out << json{{"integrations", arr}}.dump(2) << "\n";
    return kExitOk;
  }

  if (int_show_->parsed()) {
    Result<store::IntegrationRecord> i = resolve_integration(db, target_);
    if (!i) return report(err, "integration show", i.error());
    if (json_) {
      out << integration_settings_json(*i, public_url).dump(2) << "\n";
    } else {
      Result<store::OrgRecord> org = store::OrgRepo(db).get(i->org_id);
      print_integration(*i, org ? std::optional(*org) : std::nullopt, public_url, out);
    }
    return kExitOk;
  }

  if (int_disable_->parsed() || int_enable_->parsed()) {
    const bool enable = int_enable_->parsed();
    const char* command = enable ? "integration enable" : "integration disable";
    Result<store::IntegrationRecord> i = resolve_integration(db, target_);
    if (!i) return report(err, command, i.error());
    domain::IntegrationService service(db, clock);
    Result<store::IntegrationRecord> changed = enable ? service.enable(i->id) : service.disable(i->id);
    if (!changed && changed.error().code == ErrorCode::kConflict) {
      out << "Integration " << i->name << " (" << i->id << ") is already " << (enable ? "enabled" : "disabled") << "\n";
      return kExitOk;
    }
    if (!changed) return report(err, command, changed.error());
    log::info(enable ? "integration enabled" : "integration disabled", {{"integration_id", i->id}});
    out << "Integration " << i->name << " (" << i->id << ") is now " << (enable ? "enabled" : "disabled") << "\n";
    return kExitOk;
  }

  bool unlock_codes_parsed = false;
  for (const CLI::App* sub : user_allow_device_->get_parent()->get_subcommands())
    unlock_codes_parsed = unlock_codes_parsed || sub->get_name() == "unlock-codes";
  if (unlock_codes_parsed) {
    const std::string_view key = domain::trim(target_);
    const std::string id = is_guid(key) ? normalize_guid(key) : std::string(key);
    Result<store::UserRecord> u = domain::UserService(db, clock).get(id);
    if (!u) return report(err, "user unlock-codes", u.error());
    Result<bool> was_locked = domain::SignInService(db, clock).unlock_codes(id, "admin", "avowd admin");
    if (!was_locked) return report(err, "user unlock-codes", was_locked.error());
    log::info("user's fallback codes unlocked", {{"user_id", id}, {"was_locked", *was_locked}});
    if (json_) {
      out << json{{"user_id", id}, {"was_locked", *was_locked}, {"codes", "open"}}.dump(2) << "\n";
    } else {
      out << "User " << (u->upn.empty() ? u->display_name : u->upn) << " (" << u->id << ") "
          << (*was_locked ? "may use fallback codes again; the count of wrong codes restarts.\n"
                          : "was not locked; the count of wrong codes restarts.\n");
    }
    return kExitOk;
  }

  if (user_allow_device_->parsed()) {
    const std::string_view key = domain::trim(target_);
    const std::string id = is_guid(key) ? normalize_guid(key) : std::string(key);
    domain::UserService users(db, clock);
    Result<store::UserRecord> u = users.get(id);
    if (!u) return report(err, "user allow-device", u.error());
    if (Status s = users.allow_new_device(id, true); !s) return report(err, "user allow-device", s.error());
    log::info("user allowed a new device", {{"user_id", id}});
    out << "User " << (u->upn.empty() ? u->display_name : u->upn) << " (" << u->id
        << ") may bind one more device; the permission is used up by the next binding.\n";
    return kExitOk;
  }

  err << "avowd admin: no command\n";
  return kExitUsage;
}

}  // namespace avow::server
