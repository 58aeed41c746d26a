#include "crypto/keyring.h"

#include <algorithm>
#include <limits>

#include "common/logging.h"
#include "crypto/jws.h"

namespace avow::crypto {

using json = nlohmann::json;

std::string_view to_string(KeyState state) {
  switch (state) {
    case KeyState::kNext:
      return "next";
    case KeyState::kActive:
      return "active";
    case KeyState::kRetired:
      return "retired";
  }
  return "retired";
}

std::optional<KeyState> parse_key_state(std::string_view text) {
  if (text == "next") return KeyState::kNext;
  if (text == "active") return KeyState::kActive;
  if (text == "retired") return KeyState::kRetired;
  return std::nullopt;
}

// ---- stores -------------------------------------------------------------------------------------------

Status SigningKeyStore::save_all(const std::vector<SigningKeyRecord>& records) {
  for (const auto& r : records) AVOW_TRY(save(r));
  return ok();
}

Result<std::vector<SigningKeyRecord>> MemorySigningKeyStore::load_all() {
  std::lock_guard lock(mu_);
  std::vector<SigningKeyRecord> out;
  out.reserve(records_.size());
  for (const auto& [kid, r] : records_) out.push_back(r);
  return out;
}

Status MemorySigningKeyStore::save(const SigningKeyRecord& record) {
  std::lock_guard lock(mu_);
  if (saves_left_ == 0) return fail(ErrorCode::kUnavailable, "memory store: injected save failure");
  if (saves_left_ > 0) --saves_left_;
  records_[record.kid] = record;
  return ok();
}

void MemorySigningKeyStore::fail_saves_after(int successful_saves) {
  std::lock_guard lock(mu_);
  saves_left_ = successful_saves;
}

std::vector<SigningKeyRecord> MemorySigningKeyStore::records() const {
  std::lock_guard lock(mu_);
  std::vector<SigningKeyRecord> out;
  for (const auto& [kid, r] : records_) out.push_back(r);
  return out;
}

// ---- SigningKey ---------------------------------------------------------------------------------------

json SigningKey::public_jwk() const {
  PublicJwkOptions o;
  o.use_sig = true;
  o.alg = true;
  o.x5c = {certificate.x5c()};
  o.x5t = certificate.x5t();
  return key.to_public_json(o);
}

// ---- KeyRing ------------------------------------------------------------------------------------------

struct KeyRing::Snapshot {
  std::vector<SigningKeyRecord> records;  // everything stored, as last loaded or written
  std::shared_ptr<const SigningKey> active;
  std::shared_ptr<const SigningKey> next;
  std::vector<std::shared_ptr<const SigningKey>> retired;  // within retention when built, newest first

  // The serialized JWKS, rebuilt when a retired key's retention ends.
  mutable std::mutex jwks_mu;
  mutable std::shared_ptr<const std::string> jwks_text;
  mutable std::int64_t jwks_valid_until = 0;
};

namespace {

// Newest-first ordering with a deterministic tie-break, so every node repairs the same way.
bool newer(const SigningKeyRecord& a, const SigningKeyRecord& b, std::int64_t SigningKeyRecord::*when) {
  if (a.*when != b.*when) return a.*when > b.*when;
  if (a.created_at != b.created_at) return a.created_at > b.created_at;
  return a.kid > b.kid;
}

}  // namespace

KeyRing::KeyRing(SigningKeyStore& store, const MasterKey& master_key, const Clock& clock, KeyRingOptions options)
    : store_(store), master_key_(master_key), clock_(clock), options_(std::move(options)) {}

Result<std::unique_ptr<KeyRing>> KeyRing::open(SigningKeyStore& store, const MasterKey& master_key, const Clock& clock,
                                               KeyRingOptions options) {
  if (options.retired_retention.count() < 0 || options.certificate_validity.count() <= 0)
    return fail(ErrorCode::kInvalidArgument, "keyring: retention must be ≥ 0 and certificate validity > 0");
  std::unique_ptr<KeyRing> ring(new KeyRing(store, master_key, clock, std::move(options)));
  std::lock_guard lock(ring->write_mu_);
  auto snap = ring->load_and_repair();
  if (!snap) return tl::unexpected(snap.error());
  ring->snapshot_.store(std::move(*snap));
  return ring;
}

Status KeyRing::reload() {
  std::lock_guard lock(write_mu_);
  auto snap = load_and_repair();
  if (!snap) return tl::unexpected(snap.error());
  snapshot_.store(std::move(*snap));
  return ok();
}

Result<SigningKeyRecord> KeyRing::new_record(KeyState state, std::int64_t now) {
  auto key = Jwk::generate_rsa(options_.rsa_bits);
  if (!key) return tl::unexpected(key.error());
  CertificateRequest req;
  req.common_name = options_.certificate_common_name;
  req.validity = options_.certificate_validity;
  req.not_before_unix = now - 300;
  auto cert = make_self_signed(*key, req);
  if (!cert) return tl::unexpected(cert.error());
  auto der = key->private_der();
  if (!der) return tl::unexpected(der.error());
  SigningKeyRecord r;
  r.kid = key->kid();
  r.state = std::string(to_string(state));
  r.created_at = now;
  r.activated_at = state == KeyState::kActive ? now : 0;
  r.private_key_sealed = master_key_.seal(*der, r.kid);
  r.certificate_der = cert->der();
  std::fill(der->begin(), der->end(), '\0');
  return r;
}

// Loads every record and brings the ring to exactly one active and one next key. An interrupted rotate()
// (whose writes are: new next, next → active, active → retired) can leave two next keys or two active keys;
// the extra, older one is retired. Retiring keeps it published for the retention window, which is harmless
// for a key that never signed and necessary for one that did.
Result<std::shared_ptr<const KeyRing::Snapshot>> KeyRing::load_and_repair() {
  auto loaded = store_.load_all();
  if (!loaded) return tl::unexpected(loaded.error());
  std::vector<SigningKeyRecord> records = std::move(*loaded);
  const std::int64_t now = clock_.unix_now();

  std::vector<SigningKeyRecord*> actives, nexts;
  for (auto& r : records) {
    auto state = parse_key_state(r.state);
    if (!state)
      return fail(ErrorCode::kInvalidArgument, "keyring: key " + r.kid + " has unknown state \"" + r.state + "\"");
    if (*state == KeyState::kActive) actives.push_back(&r);
    if (*state == KeyState::kNext) nexts.push_back(&r);
  }
  std::sort(actives.begin(), actives.end(),
            [](auto* a, auto* b) { return newer(*a, *b, &SigningKeyRecord::activated_at); });
  std::sort(nexts.begin(), nexts.end(), [](auto* a, auto* b) { return newer(*a, *b, &SigningKeyRecord::created_at); });

  std::vector<SigningKeyRecord> changes;
  auto retire = [&](SigningKeyRecord* r) {
    r->state = std::string(to_string(KeyState::kRetired));
    r->retired_at = now;
    changes.push_back(*r);
    log::warn("keyring: retiring surplus key left by an interrupted rotation", {{"kid", r->kid}});
  };
  for (std::size_t i = 1; i < actives.size(); ++i) retire(actives[i]);
  for (std::size_t i = 1; i < nexts.size(); ++i) retire(nexts[i]);

  std::vector<SigningKeyRecord> created;
  if (actives.empty()) {
    if (!nexts.empty()) {
      // Already published as next, so it may sign at once.
      SigningKeyRecord* n = nexts.front();
      n->state = std::string(to_string(KeyState::kActive));
      n->activated_at = now;
      changes.push_back(*n);
      nexts.clear();
    } else {
      auto r = new_record(KeyState::kActive, now);
      if (!r) return tl::unexpected(r.error());
      created.push_back(std::move(*r));
    }
  }
  if (nexts.empty()) {
    auto r = new_record(KeyState::kNext, now);
    if (!r) return tl::unexpected(r.error());
    created.push_back(std::move(*r));
  }

  if (!created.empty() || !changes.empty()) {
    // New keys first: a crash after them leaves surplus keys, which the next open repairs as above.
    std::vector<SigningKeyRecord> writes = created;
    writes.insert(writes.end(), changes.begin(), changes.end());
    AVOW_TRY(store_.save_all(writes));
    for (auto& c : created) {
      log::info("keyring: created signing key", {{"kid", c.kid}, {"state", c.state}});
      records.push_back(std::move(c));
    }
  }
  return build_snapshot(records);
}

Result<std::shared_ptr<const KeyRing::Snapshot>> KeyRing::build_snapshot(
    const std::vector<SigningKeyRecord>& records) const {
  const std::int64_t now = clock_.unix_now();
  const std::int64_t retention = options_.retired_retention.count();
  auto snap = std::make_shared<Snapshot>();
  snap->records = records;

  for (const auto& r : records) {
    const KeyState state = *parse_key_state(r.state);
    if (state == KeyState::kRetired && r.retired_at + retention <= now) continue;  // past retention: not loaded

    auto cert = Certificate::from_der(r.certificate_der);
    if (!cert) {
      if (state == KeyState::kRetired) {
        log::warn("keyring: retired key has an unreadable certificate; left out of the JWKS", {{"kid", r.kid}});
        continue;
      }
      return fail(ErrorCode::kInvalidArgument, "keyring: key " + r.kid + " has a corrupt certificate");
    }
    auto make = [&](Jwk key) {
      return std::make_shared<const SigningKey>(
          SigningKey{r.kid, state, r.created_at, r.activated_at, r.retired_at, std::move(key), *cert});
    };

    if (state == KeyState::kRetired) {
      // A retired key never signs again: its certificate's public key is all the JWKS needs.
      auto pub = cert->public_key();
      if (!pub) {
        log::warn("keyring: retired key has an unusable public key; left out of the JWKS", {{"kid", r.kid}});
        continue;
      }
      snap->retired.push_back(make(pub->with_kid(r.kid)));
      continue;
    }

    auto der = master_key_.open(r.private_key_sealed, r.kid);
    if (!der) {
      return fail(
          der.error().code == ErrorCode::kUnauthenticated ? ErrorCode::kUnauthenticated : ErrorCode::kInvalidArgument,
          "keyring: cannot open the private key of " + r.kid + " (wrong master key?): " + der.error().message);
    }
    auto key = Jwk::from_der(*der);
    std::fill(der->begin(), der->end(), '\0');
    if (!key) return fail(ErrorCode::kInvalidArgument, "keyring: key " + r.kid + ": " + key.error().message);
    auto cert_key = cert->public_key();
    if (!cert_key || !cert_key->same_public_key(*key))
      return fail(ErrorCode::kInvalidArgument, "keyring: the certificate of " + r.kid + " is for another key");
    (state == KeyState::kActive ? snap->active : snap->next) = make(key->with_kid(r.kid));
  }
  if (!snap->active || !snap->next) return fail(ErrorCode::kInternal, "keyring: no active or no next key after repair");
  std::sort(snap->retired.begin(), snap->retired.end(),
            [](const auto& a, const auto& b) { return a->retired_at > b->retired_at; });
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Status KeyRing::rotate() {
  std::lock_guard lock(write_mu_);
  auto snap = snapshot();
  const std::int64_t now = clock_.unix_now();

  auto fresh = new_record(KeyState::kNext, now);
  if (!fresh) return tl::unexpected(fresh.error());
  std::vector<SigningKeyRecord> records = snap->records;
  SigningKeyRecord promoted, retired;
  for (auto& r : records) {
    if (r.kid == snap->next->kid) {
      r.state = std::string(to_string(KeyState::kActive));
      r.activated_at = now;
      promoted = r;
    } else if (r.kid == snap->active->kid) {
      r.state = std::string(to_string(KeyState::kRetired));
      r.retired_at = now;
      retired = r;
    }
  }
  // Order matters for stores without transactions; see load_and_repair.
  AVOW_TRY(store_.save_all({*fresh, promoted, retired}));
  records.push_back(*fresh);

  auto next_snap = build_snapshot(records);
  if (!next_snap) return tl::unexpected(next_snap.error());
  snapshot_.store(std::move(*next_snap));
  log::info("keyring: rotated signing keys",
            {{"retired", retired.kid}, {"active", promoted.kid}, {"next", fresh->kid}});
  return ok();
}

std::shared_ptr<const KeyRing::Snapshot> KeyRing::snapshot() const { return snapshot_.load(); }

std::shared_ptr<const SigningKey> KeyRing::active() const { return snapshot()->active; }

Result<std::string> KeyRing::sign_jwt(const json& header_extra, const json& payload) const {
  auto snap = snapshot();
  std::string text;
  try {
    text = payload.dump();
  } catch (const json::exception&) {  // a string that is not valid UTF-8
    return fail(ErrorCode::kInvalidArgument, "keyring: the payload holds a string that is not UTF-8");
  }
  return jws::sign(snap->active->key, header_extra, text);
}

std::vector<std::shared_ptr<const SigningKey>> KeyRing::published() const {
  auto snap = snapshot();
  const std::int64_t now = clock_.unix_now();
  const std::int64_t retention = options_.retired_retention.count();
  std::vector<std::shared_ptr<const SigningKey>> out{snap->active, snap->next};
  for (const auto& r : snap->retired) {
    if (r->retired_at + retention > now) out.push_back(r);
  }
  return out;
}

json KeyRing::jwks_json() const {
  json keys = json::array();
  for (const auto& k : published()) keys.push_back(k->public_jwk());
  return json{{"keys", std::move(keys)}};
}

std::shared_ptr<const std::string> KeyRing::jwks_text() const {
  auto snap = snapshot();
  const std::int64_t now = clock_.unix_now();
  const std::int64_t retention = options_.retired_retention.count();
  std::lock_guard lock(snap->jwks_mu);
  if (snap->jwks_text && now < snap->jwks_valid_until) return snap->jwks_text;
  // Valid until the earliest retention end among the retired keys it lists.
  std::int64_t valid_until = std::numeric_limits<std::int64_t>::max();
  json keys = json::array({snap->active->public_jwk(), snap->next->public_jwk()});
  for (const auto& r : snap->retired) {
    if (r->retired_at + retention <= now) continue;
    keys.push_back(r->public_jwk());
    valid_until = std::min(valid_until, r->retired_at + retention);
  }
  snap->jwks_text = std::make_shared<const std::string>(json{{"keys", std::move(keys)}}.dump());
  snap->jwks_valid_until = valid_until;
  return snap->jwks_text;
}

std::vector<SigningKeyInfo> KeyRing::list() const {
  auto snap = snapshot();
  const std::int64_t now = clock_.unix_now();
  const std::int64_t retention = options_.retired_retention.count();
  std::vector<SigningKeyInfo> out;
  for (const auto& r : snap->records) {
    SigningKeyInfo i;
    i.kid = r.kid;
    i.state = parse_key_state(r.state).value_or(KeyState::kRetired);
    i.created_at = r.created_at;
    i.activated_at = r.activated_at;
    i.retired_at = r.retired_at;
    i.published = i.state != KeyState::kRetired || r.retired_at + retention > now;
    out.push_back(std::move(i));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    return a.kid > b.kid;
  });
  return out;
}

}  // namespace avow::crypto
