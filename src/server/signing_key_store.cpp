#include "server/signing_key_store.h"

#include "store/repositories.h"

namespace avow::server {
namespace {

store::SigningKeyRow to_row(const crypto::SigningKeyRecord& r) {
  store::SigningKeyRow row;
  row.kid = r.kid;
  row.alg = "RS256";  // the ring's keys are RSA (see crypto/keyring.h)
  row.state = r.state;
  row.created_at = r.created_at;
  row.activated_at = r.activated_at;
  row.retired_at = r.retired_at;
  row.private_key_sealed = r.private_key_sealed;
  row.certificate_der = r.certificate_der;
  return row;
}

crypto::SigningKeyRecord to_record(store::SigningKeyRow row) {
  crypto::SigningKeyRecord r;
  r.kid = std::move(row.kid);
  r.state = std::move(row.state);
  r.created_at = row.created_at;
  r.activated_at = row.activated_at;
  r.retired_at = row.retired_at;
  r.private_key_sealed = std::move(row.private_key_sealed);
  r.certificate_der = std::move(row.certificate_der);
  return r;
}

}  // namespace

Result<std::vector<crypto::SigningKeyRecord>> DbSigningKeyStore::load_all() {
  Result<store::Connection> conn = database_->connection();
  if (!conn) return tl::unexpected(conn.error());
  store::SigningKeyRepo repo(**conn);
  auto rows = repo.load_all();
  if (!rows) return tl::unexpected(rows.error());
  std::vector<crypto::SigningKeyRecord> out;
  out.reserve(rows->size());
  for (auto& row : *rows) out.push_back(to_record(std::move(row)));
  return out;
}

Status DbSigningKeyStore::save(const crypto::SigningKeyRecord& record) {
  Result<store::Connection> conn = database_->connection();
  if (!conn) return tl::unexpected(conn.error());
  store::SigningKeyRepo repo(**conn);
  return repo.save(to_row(record));
}

Status DbSigningKeyStore::save_all(const std::vector<crypto::SigningKeyRecord>& records) {
  return database_->transaction([&records](store::Db& tx) -> Status {
    store::SigningKeyRepo repo(tx);
    for (const auto& r : records) AVOW_TRY(repo.save(to_row(r)));
    return ok();
  });
}

}  // namespace avow::server
