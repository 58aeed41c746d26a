#include "domain/codes.h"

#include "common/random.h"
#include "store/repositories.h"

namespace avow::domain {

std::string new_code_secret() { return random_bytes(kCodeSecretBytes); }

std::string code_secret_aad(std::string_view binding_id) {
  return "avow binding code secret v1:" + std::string(binding_id);
}

Result<std::string> ensure_code_secret(store::Db& tx, const crypto::MasterKey& key, std::string_view binding_id,
                                       store::UnixTime now, bool* created) {
  if (created) *created = false;
  store::CodeSecretRepo secrets(tx);
  auto found = secrets.find(binding_id);
  AVOW_TRY(found);
  if (*found) {
    Result<std::string> secret = key.open((*found)->secret_sealed, code_secret_aad(binding_id));
    if (!secret) {
      return fail(ErrorCode::kInternal, "the code secret of binding " + std::string(binding_id) +
                                            " does not open (another master key, or a damaged row)");
    }
    return secret;
  }
  std::string secret = new_code_secret();
  store::CodeSecretRecord rec;
  rec.binding_id = std::string(binding_id);
  rec.secret_sealed = key.seal(secret, code_secret_aad(binding_id));
  rec.created_at = now;
  AVOW_TRY(secrets.create(rec));
  if (created) *created = true;
  return secret;
}

}  // namespace avow::domain
