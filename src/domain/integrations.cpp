#include "domain/integrations.h"

#include <algorithm>

#include "common/random.h"
#include "domain/states.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

Result<store::IntegrationRecord> validate_integration(const IntegrationSpec& spec) {
  store::IntegrationRecord r;
  auto name = validate_name("name", spec.name);
  AVOW_TRY(name);
  r.name = std::move(*name);
  auto directory = validate_guid("directory_id", spec.directory_id);
  AVOW_TRY(directory);
  r.directory_id = std::move(*directory);
  auto app = validate_optional_guid("app_id", spec.app_id);
  AVOW_TRY(app);
  r.app_id = std::move(*app);
  auto cloud = parse_cloud(spec.cloud);
  AVOW_TRY(cloud);
  r.cloud = *cloud;
  auto claim_type = validate_claim_type(spec.claim_type);
  AVOW_TRY(claim_type);
  r.claim_type = std::move(*claim_type);
  auto claim_value = validate_claim_value(spec.claim_value);
  AVOW_TRY(claim_value);
  r.claim_value = std::move(*claim_value);
  auto policy = parse_guest_policy(spec.guest_policy);
  AVOW_TRY(policy);
  r.guest_policy = *policy;

  if (spec.guest_tenants.size() > kMaxGuestTenants) {
    return fail(ErrorCode::kInvalidArgument,
                "guest_tenants may list at most " + std::to_string(kMaxGuestTenants) + " tenants");
  }
  for (const std::string& t : spec.guest_tenants) {
    auto g = validate_guid("guest_tenants", t);
    AVOW_TRY(g);
    if (std::find(r.guest_tenants.begin(), r.guest_tenants.end(), *g) == r.guest_tenants.end()) {
      r.guest_tenants.push_back(std::move(*g));
    }
  }
  if (r.guest_policy == store::GuestPolicy::kList && r.guest_tenants.empty()) {
    return fail(ErrorCode::kInvalidArgument, "guest_tenants must list at least one tenant for guest policy 'list'");
  }
  if (r.guest_policy != store::GuestPolicy::kList && !r.guest_tenants.empty()) {
    return fail(ErrorCode::kInvalidArgument, "guest_tenants is only used with guest policy 'list'");
  }
  return r;
}

std::string new_client_id() { return new_id(); }

Status check_guest_policy(const store::IntegrationRecord& integration, std::string_view home_tenant_id) {
  if (home_tenant_id == integration.directory_id) return ok();  // a member
  switch (integration.guest_policy) {
    case store::GuestPolicy::kAny:
      return ok();
    case store::GuestPolicy::kMembers:
      return fail(ErrorCode::kPermissionDenied, "this integration admits members of its directory only");
    case store::GuestPolicy::kList:
      if (std::find(integration.guest_tenants.begin(), integration.guest_tenants.end(), home_tenant_id) !=
          integration.guest_tenants.end()) {
        return ok();
      }
      return fail(ErrorCode::kPermissionDenied, "guests from this tenant are not admitted by this integration");
  }
  return fail(ErrorCode::kPermissionDenied, "guest policy refuses this tenant");
}

Result<store::IntegrationRecord> IntegrationService::create(std::string_view org_id, const IntegrationSpec& spec) {
  auto r = validate_integration(spec);
  AVOW_TRY(r);
  r->id = new_id();
  r->org_id = std::string(org_id);
  r->client_id = new_client_id();
  r->status = store::IntegrationStatus::kEnabled;
  r->created_at = clock_.unix_now();
  AVOW_TRY(store::IntegrationRepo(db_).create(*r));
  return r;
}

Result<store::IntegrationRecord> IntegrationService::update(std::string_view id, const IntegrationSpec& spec) {
  auto r = validate_integration(spec);
  AVOW_TRY(r);
  r->id = std::string(id);
  store::IntegrationRepo integrations(db_);
  AVOW_TRY(integrations.update_settings(*r));
  return integrations.get(id);
}

Result<store::IntegrationRecord> IntegrationService::enable(std::string_view id) {
  return set_status(id, store::IntegrationStatus::kEnabled);
}

Result<store::IntegrationRecord> IntegrationService::disable(std::string_view id) {
  return set_status(id, store::IntegrationStatus::kDisabled);
}

Result<store::IntegrationRecord> IntegrationService::set_status(std::string_view id, store::IntegrationStatus to) {
  store::IntegrationRepo integrations(db_);
  auto current = integrations.get(id);
  AVOW_TRY(current);
  AVOW_TRY(check_transition(current->status, to, "integration"));
  auto won = integrations.set_status(id, current->status, to);
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "integration changed meanwhile");
  return integrations.get(id);
}

}  // namespace avow::domain
