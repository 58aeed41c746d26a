#include "dashboard/pages.h"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <kainjow/mustache.hpp>

#include "common/html.h"
#include "dashboard/templates.h"

namespace avow::dashboard {
namespace {

namespace mustache = kainjow::mustache;

struct PageInfo {
  std::string_view name;
  bool script;  // live waits or copy buttons: the page carries the dashboard script
};

constexpr std::array<PageInfo, 18> kPages{{
    {"signin", true},
    {"signup", false},
    {"scan_wait", true},
    {"push_wait", true},
    {"invite", true},
    {"invite_created", true},
    {"message", false},
    {"overview", false},
    {"integrations", false},
    {"integration_form", false},
    {"integration", true},
    {"users", false},
    {"user", false},
    {"devices", false},
    {"admins", false},
    {"audit", false},
    {"settings", false},
    {"reauth", false},
}};

const PageInfo* find_page(std::string_view name) {
  for (const PageInfo& p : kPages)
    if (p.name == name) return &p;
  return nullptr;
}

// JSON → Mustache data. Empty strings become false as well, so `{{#x}}` means "x is set and not empty"
// (`{{x}}` of false renders nothing, as of an empty string).
mustache::data to_data(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      mustache::data d{mustache::data::type::object};
      for (const auto& [key, value] : j.items()) d[key] = to_data(value);
      return d;
    }
    case nlohmann::json::value_t::array: {
      mustache::data d{mustache::data::type::list};
      for (const auto& item : j) d.push_back(to_data(item));
      return d;
    }
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (s.empty()) return mustache::data{mustache::data::type::bool_false};
      return mustache::data{s};
    }
    case nlohmann::json::value_t::boolean:
      return mustache::data{j.get<bool>() ? mustache::data::type::bool_true : mustache::data::type::bool_false};
    case nlohmann::json::value_t::number_integer:
      return mustache::data{std::to_string(j.get<std::int64_t>())};
    case nlohmann::json::value_t::number_unsigned:
      return mustache::data{std::to_string(j.get<std::uint64_t>())};
    case nlohmann::json::value_t::number_float:
      return mustache::data{j.dump()};
    default:  // null, binary, discarded
      return mustache::data{mustache::data::type::bool_false};
  }
}

// A value a select's option can be compared with: short, and only characters safe in a Mustache name.
bool is_choice_value(std::string_view v) {
  if (v.empty() || v.size() > 40) return false;
  for (char c : v)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

// Keys the templates need and JSON cannot say (Mustache has no comparisons), filled in when absent:
//   chosen.<field>.<value> = true for every string of `values` and of the top level (selects' `selected`);
//   has_<list> = the top-level array <list> is not empty;
//   searching (users) = a search or status filter is set; advanced_open (integration_form) = an advanced
//   field has an error; discovery_https (integration) = the EAM Discovery URL is https;
//   restart_url (scan_wait) = the sign-up page.
nlohmann::json with_derived_keys(std::string_view page, const nlohmann::json& view) {
  nlohmann::json v = view.is_object() ? view : nlohmann::json::object();
  nlohmann::json chosen = nlohmann::json::object();
  auto add_choices = [&](const nlohmann::json& obj) {
    if (!obj.is_object()) return;
    for (const auto& [key, value] : obj.items())
      if (value.is_string() && is_choice_value(value.get_ref<const std::string&>()) && !chosen.contains(key))
        chosen[key] = {{value.get<std::string>(), true}};
  };
  if (auto it = v.find("values"); it != v.end()) add_choices(*it);
  add_choices(v);
  if (!v.contains("chosen")) v["chosen"] = std::move(chosen);

  std::vector<std::string> lists;
  for (const auto& [key, value] : v.items())
    if (value.is_array()) lists.push_back(key);
  for (const std::string& key : lists)
    if (!v.contains("has_" + key)) v["has_" + key] = !v[key].empty();

  auto text = [&](const nlohmann::json& obj, const char* key) -> std::string {
    if (!obj.is_object()) return {};
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (page == "users" && !v.contains("searching")) v["searching"] = !text(v, "q").empty() || !text(v, "status").empty();
  if (page == "integration_form" && !v.contains("advanced_open")) {
    bool open = false;
    if (auto it = v.find("errors"); it != v.end() && it->is_object())
      for (const char* f : {"cloud", "guest_policy", "guest_tenants", "claim_type", "claim_value"})
        open = open || it->contains(f);
    v["advanced_open"] = open;
  }
  if (page == "integration" && !v.contains("discovery_https")) {
    auto eam = v.find("eam");
    v["discovery_https"] = eam != v.end() && text(*eam, "discovery_url").starts_with("https://");
  }
  if (page == "scan_wait" && !v.contains("restart_url")) v["restart_url"] = text(v, "base") + "/dashboard/signup";
  return v;
}

// Parsed templates. kainjow's render() is not const (it records errors in the object), so each thread
// keeps its own parsed copies: no locks, no sharing, and parsing happens once per thread and template.
class TemplateCache {
 public:
  Result<mustache::mustache*> get(std::string_view file) {
    auto it = parsed_.find(file);
    if (it == parsed_.end()) {
      std::optional<std::string_view> text = embedded_template(file);
      if (!text) return fail(ErrorCode::kInternal, "dashboard template " + std::string(file) + " is missing");
      auto tmpl = std::make_unique<mustache::mustache>(std::string(*text));
      if (!tmpl->is_valid())
        return fail(ErrorCode::kInternal, "dashboard template " + std::string(file) + ": " + tmpl->error_message());
      // Escape exactly as the rest of Avow does (& < > " ' → entities).
      tmpl->set_custom_escape([](const std::string& s) { return html_escape(s); });
      it = parsed_.emplace(std::string(file), std::move(tmpl)).first;
    }
    return it->second.get();
  }

 private:
  std::map<std::string, std::unique_ptr<mustache::mustache>, std::less<>> parsed_;
};

Result<std::string> render(std::string_view file, const mustache::data& data) {
  thread_local TemplateCache cache;
  Result<mustache::mustache*> tmpl = cache.get(file);
  if (!tmpl) return tl::unexpected(tmpl.error());
  std::string out = (*tmpl)->render(data);
  if (!(*tmpl)->is_valid())
    return fail(ErrorCode::kInternal, "dashboard template " + std::string(file) + ": " + (*tmpl)->error_message());
  return out;
}

}  // namespace

Result<std::string> render_page(std::string_view page, const nlohmann::json& view) {
  const PageInfo* info = find_page(page);
  if (!info) return fail(ErrorCode::kNotFound, "no dashboard page named " + std::string(page));
  mustache::data data = to_data(with_derived_keys(page, view));
  Result<std::string> content = render(std::string(page) + ".mustache", data);
  if (!content) return content;

  static const std::string kStyle(embedded_template("style.css").value_or(""));
  static const std::string kScript(embedded_template("script.js").value_or(""));
  // The layout's own keys, set last so no view can supply them.
  data["layout_page"] = mustache::data{std::string(page)};
  data["layout_content"] = mustache::data{std::move(*content)};
  data["layout_style"] = mustache::data{kStyle};
  data["layout_script"] = info->script ? mustache::data{kScript} : mustache::data{mustache::data::type::bool_false};
  return render("layout.mustache", data);
}

}  // namespace avow::dashboard
