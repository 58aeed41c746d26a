// avow/domain/integrations.h — Entra integrations: one tenant connected to Avow, as EAM and custom control.
//
// An admin gives a name and the tenant's Directory ID (plus, optionally, the App ID of Avow's app
// registration in that tenant); Avow generates the Client ID that Entra sends back as `client_id`.
// The same integration serves the EAM and the custom-control flavours; the custom-control claim defaults
// to AvowMfa = MfaDone.
//
//   IntegrationService integrations(db, clock);
//   Result<store::IntegrationRecord> i = integrations.create(org_id, {.name = "Contoso", .directory_id = tid});
//   AVOW_TRY(check_guest_policy(*i, hint_tid));   // at sign-in: may a user from this home tenant pass?
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

inline constexpr std::string_view kDefaultClaimType = "AvowMfa";
inline constexpr std::string_view kDefaultClaimValue = "MfaDone";

// What an admin types (form fields, untrusted).
struct IntegrationSpec {
  std::string name;
  std::string directory_id;
  std::string app_id;  // empty: none yet
  std::string cloud = "global";
  std::string claim_type = std::string(kDefaultClaimType);
  std::string claim_value = std::string(kDefaultClaimValue);
  std::string guest_policy = "any";
  std::vector<std::string> guest_tenants;  // home-tenant GUIDs for guest_policy "list"
};

// Checks every field of `spec` and returns a record with the validated settings filled in (name, GUIDs
// lowercased, cloud, claim, guest policy, de-duplicated tenants) and nothing else. kInvalidArgument with
// the first offending field's message. Guest tenants are required (≥ 1) for "list" and must be empty
// otherwise; at most kMaxGuestTenants.
Result<store::IntegrationRecord> validate_integration(const IntegrationSpec& spec);

// A fresh Client ID: a random GUID (Entra's admin screens expect an identifier of that shape).
std::string new_client_id();

// kPermissionDenied when the integration's guest policy refuses a user whose home tenant is
// `home_tenant_id` (lowercase GUID): "members" admits only the Directory ID itself; "list" admits it and
// the listed tenants; "any" admits everyone.
Status check_guest_policy(const store::IntegrationRecord& integration, std::string_view home_tenant_id);

class IntegrationService {
 public:
  IntegrationService(store::Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Validates and creates an enabled integration with a new Client ID. kInvalidArgument (validation or
  // unknown org), store errors otherwise.
  Result<store::IntegrationRecord> create(std::string_view org_id, const IntegrationSpec& spec);

  // Replaces the editable settings. kNotFound when absent; validation errors as create().
  Result<store::IntegrationRecord> update(std::string_view id, const IntegrationSpec& spec);

  // enabled → disabled and back. kConflict when already in that state.
  Result<store::IntegrationRecord> enable(std::string_view id);
  Result<store::IntegrationRecord> disable(std::string_view id);

 private:
  Result<store::IntegrationRecord> set_status(std::string_view id, store::IntegrationStatus to);

  store::Db& db_;
  const Clock& clock_;
};

}  // namespace avow::domain
