// avow/server/signing_key_store.h — the key ring's persistence, on the store's signing_keys table.
//
//   auto keys = std::make_unique<DbSigningKeyStore>(database);
//   Result<std::unique_ptr<crypto::KeyRing>> ring = crypto::KeyRing::open(*keys, master_key, clock);
//
// crypto never includes store (and store never includes crypto): this adapter, in the server that wires
// both, translates crypto::SigningKeyRecord ⇄ store::SigningKeyRow. Calls block on the database; make
// them from start-up code, the CLI or a BlockingPool worker, never on an event-loop thread.
#pragma once

#include <memory>
#include <vector>

#include "crypto/keyring.h"
#include "store/database.h"

namespace avow::server {

class DbSigningKeyStore final : public crypto::SigningKeyStore {
 public:
  explicit DbSigningKeyStore(std::shared_ptr<store::Database> database) : database_(std::move(database)) {}

  // kUnavailable when no connection can be borrowed; otherwise the store's errors.
  Result<std::vector<crypto::SigningKeyRecord>> load_all() override;
  Status save(const crypto::SigningKeyRecord& record) override;
  // All records in one transaction: a rotation is stored entirely or not at all.
  Status save_all(const std::vector<crypto::SigningKeyRecord>& records) override;

 private:
  std::shared_ptr<store::Database> database_;
};

}  // namespace avow::server
