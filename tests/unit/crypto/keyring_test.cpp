#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "common/base64url.h"
#include "crypto/hash.h"
#include "crypto/jws.h"
#include "crypto/keyring.h"

namespace avow::crypto {
namespace {

using json = nlohmann::json;
using std::chrono::hours;
using std::chrono::seconds;

class KeyRingTest : public ::testing::Test {
 protected:
  std::unique_ptr<KeyRing> open_ring(KeyRingOptions options = {}) {
    auto ring = KeyRing::open(store_, master_, clock_, std::move(options));
    EXPECT_TRUE(ring) << ring.error().message;
    return ring ? std::move(*ring) : nullptr;
  }
  std::size_t count_state(KeyState s) {
    std::size_t n = 0;
    for (const auto& r : store_.records()) n += r.state == to_string(s) ? 1 : 0;
    return n;
  }
  static std::set<std::string> kids(const std::vector<std::shared_ptr<const SigningKey>>& keys) {
    std::set<std::string> out;
    for (const auto& k : keys) out.insert(k->kid);
    return out;
  }

  MemorySigningKeyStore store_;
  MasterKey master_ = MasterKey::generate();
  ManualClock clock_{Clock::from_unix(1'700'000'000)};
};

TEST_F(KeyRingTest, OpenOnEmptyStoreCreatesActiveAndNext) {
  auto ring = open_ring();
  ASSERT_TRUE(ring);
  auto records = store_.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(count_state(KeyState::kActive), 1u);
  EXPECT_EQ(count_state(KeyState::kNext), 1u);
  for (const auto& r : records) {
    EXPECT_EQ(r.created_at, 1'700'000'000);
    EXPECT_EQ(r.activated_at, r.state == "active" ? 1'700'000'000 : 0);
    EXPECT_EQ(r.retired_at, 0);
    // Sealed under the master key, bound to the kid; the DER is a PKCS#8 RSA-2048 key whose thumbprint is the kid.
    auto der = master_.open(r.private_key_sealed, r.kid);
    ASSERT_TRUE(der);
    auto key = Jwk::from_der(*der);
    ASSERT_TRUE(key);
    EXPECT_EQ(key->bits(), 2048);
    EXPECT_EQ(key->thumbprint(), r.kid);
    EXPECT_FALSE(master_.open(r.private_key_sealed, "another kid"));
    auto cert = Certificate::from_der(r.certificate_der);
    ASSERT_TRUE(cert);
    EXPECT_TRUE(cert->public_key().value().same_public_key(*key));
  }
  ASSERT_TRUE(ring->active());
  EXPECT_EQ(ring->active()->state, KeyState::kActive);
  EXPECT_TRUE(ring->active()->key.is_private());
  EXPECT_EQ(ring->published().size(), 2u);
}

TEST_F(KeyRingTest, ReopenLoadsTheSameKeys) {
  std::string active_kid;
  {
    auto ring = open_ring();
    active_kid = ring->active()->kid;
  }
  auto again = open_ring();
  ASSERT_TRUE(again);
  EXPECT_EQ(store_.records().size(), 2u);
  EXPECT_EQ(again->active()->kid, active_kid);
}

TEST_F(KeyRingTest, JwksShapeAndSignatures) {
  auto ring = open_ring();
  json jwks = ring->jwks_json();
  ASSERT_EQ(jwks["keys"].size(), 2u);
  for (const auto& k : jwks["keys"]) {
    for (const char* m : {"kty", "use", "alg", "kid", "n", "e", "x5c", "x5t"}) EXPECT_TRUE(k.contains(m)) << m;
    EXPECT_EQ(k["kty"], "RSA");
    EXPECT_EQ(k["use"], "sig");
    EXPECT_EQ(k["alg"], "RS256");
    EXPECT_FALSE(k.contains("d"));
    ASSERT_EQ(k["x5c"].size(), 1u);
    const std::string der = base64_decode(k["x5c"][0].get<std::string>()).value();
    EXPECT_EQ(k["x5t"], base64url_encode(sha1(der)));
    auto cert_key = Certificate::from_der(der).value().public_key().value();
    EXPECT_EQ(cert_key.public_member_1(), k["n"]);
    EXPECT_EQ(cert_key.public_member_2(), k["e"]);
  }
  EXPECT_EQ(jwks["keys"][0]["kid"], ring->active()->kid);  // active first
  EXPECT_EQ(*ring->jwks_text(), jwks.dump());

  auto token = ring->sign_jwt({{"typ", "JWT"}}, {{"sub", "s"}, {"nonce", "n"}});
  ASSERT_TRUE(token) << token.error().message;
  auto set = Jwks::parse(*ring->jwks_text());
  ASSERT_TRUE(set);
  EXPECT_EQ(set->keys().size(), 2u);
  auto v = jws::verify(*token, *set);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->header["kid"], ring->active()->kid);
  EXPECT_EQ(v->header["typ"], "JWT");
  EXPECT_EQ(json::parse(v->payload)["sub"], "s");
}

TEST_F(KeyRingTest, RotateMovesNextToActiveAndActiveToRetired) {
  auto ring = open_ring();
  const std::string a = ring->active()->kid;
  std::string n;
  for (const auto& k : ring->published())
    if (k->kid != a) n = k->kid;
  const std::string before_token = ring->sign_jwt(nullptr, {{"i", 1}}).value();

  clock_.advance(hours(48));
  ASSERT_TRUE(ring->rotate());
  EXPECT_EQ(ring->active()->kid, n);
  EXPECT_EQ(ring->active()->activated_at, 1'700'000'000 + 48 * 3600);
  EXPECT_EQ(store_.records().size(), 3u);
  EXPECT_EQ(count_state(KeyState::kActive), 1u);
  EXPECT_EQ(count_state(KeyState::kNext), 1u);
  EXPECT_EQ(count_state(KeyState::kRetired), 1u);

  const auto published = ring->published();
  ASSERT_EQ(published.size(), 3u);
  EXPECT_EQ(published[0]->state, KeyState::kActive);
  EXPECT_EQ(published[1]->state, KeyState::kNext);
  EXPECT_EQ(published[2]->state, KeyState::kRetired);
  EXPECT_EQ(published[2]->kid, a);
  EXPECT_EQ(published[2]->retired_at, 1'700'000'000 + 48 * 3600);
  EXPECT_FALSE(published[2]->key.is_private());  // retired keys are loaded from their certificate

  // A token signed before the rotation still verifies against the new JWKS; new tokens use the new key.
  auto set = Jwks::parse(*ring->jwks_text()).value();
  EXPECT_EQ(set.keys().size(), 3u);
  EXPECT_TRUE(jws::verify(before_token, set));
  auto after = jws::verify(ring->sign_jwt(nullptr, {{"i", 2}}).value(), set);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->header["kid"], n);

  // The rotation is persisted: a fresh ring sees the same thing.
  auto reopened = open_ring();
  EXPECT_EQ(reopened->active()->kid, n);
  EXPECT_EQ(reopened->published().size(), 3u);
}

TEST_F(KeyRingTest, RetiredKeyLeavesJwksAfterRetention) {
  KeyRingOptions o;
  o.retired_retention = hours(24 * 7);
  auto ring = open_ring(o);
  const std::string a = ring->active()->kid;
  ASSERT_TRUE(ring->rotate());
  EXPECT_EQ(ring->published().size(), 3u);
  const auto text_before = ring->jwks_text();
  EXPECT_NE(text_before->find(a), std::string::npos);

  clock_.advance(hours(24 * 7) - seconds(1));
  EXPECT_EQ(ring->published().size(), 3u);
  EXPECT_EQ(ring->jwks_text(), text_before);  // cached

  clock_.advance(seconds(1));
  EXPECT_EQ(ring->published().size(), 2u);
  EXPECT_EQ(kids(ring->published()).count(a), 0u);
  EXPECT_EQ(ring->jwks_text()->find(a), std::string::npos);
  EXPECT_EQ(ring->jwks_json()["keys"].size(), 2u);

  // Still listed, as unpublished.
  auto list = ring->list();
  ASSERT_EQ(list.size(), 3u);
  auto it = std::find_if(list.begin(), list.end(), [&](const auto& i) { return i.kid == a; });
  ASSERT_NE(it, list.end());
  EXPECT_EQ(it->state, KeyState::kRetired);
  EXPECT_FALSE(it->published);

  // A ring opened after the retention does not load it at all.
  EXPECT_EQ(open_ring(o)->published().size(), 2u);
}

TEST_F(KeyRingTest, CustomRetention) {
  KeyRingOptions o;
  o.retired_retention = hours(1);
  auto ring = open_ring(o);
  ASSERT_TRUE(ring->rotate());
  clock_.advance(hours(1));
  EXPECT_EQ(ring->published().size(), 2u);
}

TEST_F(KeyRingTest, ListShowsStatesAndDates) {
  auto ring = open_ring();
  clock_.advance(hours(1));
  ASSERT_TRUE(ring->rotate());
  auto list = ring->list();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].state, KeyState::kNext);  // newest first
  EXPECT_EQ(list[0].created_at, 1'700'003'600);
  int active = 0, retired = 0;
  for (const auto& i : list) {
    EXPECT_TRUE(i.published);
    if (i.state == KeyState::kActive) {
      ++active;
      EXPECT_EQ(i.activated_at, 1'700'003'600);
    }
    if (i.state == KeyState::kRetired) {
      ++retired;
      EXPECT_EQ(i.activated_at, 1'700'000'000);
      EXPECT_EQ(i.retired_at, 1'700'003'600);
    }
  }
  EXPECT_EQ(active, 1);
  EXPECT_EQ(retired, 1);
}

TEST_F(KeyRingTest, WrongMasterKeyIsRefused) {
  ASSERT_TRUE(open_ring());
  auto other = KeyRing::open(store_, MasterKey::generate(), clock_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(other.error().message.find("wrong master key"), std::string::npos);
}

TEST_F(KeyRingTest, FailedRotationLeavesRingUnchangedAndReopenRepairs) {
  auto ring = open_ring();
  const std::string a = ring->active()->kid;
  clock_.advance(hours(1));
  store_.fail_saves_after(1);  // the new next key is saved, the promotion is not
  auto r = ring->rotate();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(ring->active()->kid, a);
  EXPECT_EQ(ring->published().size(), 2u);
  EXPECT_EQ(count_state(KeyState::kNext), 2u);

  store_.fail_saves_after(-1);
  auto repaired = open_ring();
  ASSERT_TRUE(repaired);
  EXPECT_EQ(repaired->active()->kid, a);
  EXPECT_EQ(count_state(KeyState::kActive), 1u);
  EXPECT_EQ(count_state(KeyState::kNext), 1u);
  EXPECT_EQ(count_state(KeyState::kRetired), 1u);
  EXPECT_TRUE(repaired->rotate());
}

TEST_F(KeyRingTest, RepairKeepsTheMostRecentlyActivatedKey) {
  auto ring = open_ring();
  const std::string a = ring->active()->kid;
  std::string n;
  for (const auto& k : ring->published())
    if (k->kid != a) n = k->kid;
  clock_.advance(hours(1));
  store_.fail_saves_after(2);  // new next and promotion saved, retirement of the old active lost
  ASSERT_FALSE(ring->rotate());
  EXPECT_EQ(count_state(KeyState::kActive), 2u);

  store_.fail_saves_after(-1);
  auto repaired = open_ring();
  ASSERT_TRUE(repaired);
  EXPECT_EQ(repaired->active()->kid, n);
  EXPECT_EQ(count_state(KeyState::kActive), 1u);
  EXPECT_EQ(count_state(KeyState::kRetired), 1u);
  EXPECT_EQ(repaired->published().size(), 3u);
}

TEST_F(KeyRingTest, PromotesNextWhenNoKeyIsActive) {
  std::string n;
  {
    auto ring = open_ring();
    for (const auto& k : ring->published())
      if (k->state == KeyState::kNext) n = k->kid;
  }
  for (auto r : store_.records()) {
    if (r.state == "active") {
      r.state = "retired";
      r.retired_at = clock_.unix_now();
      ASSERT_TRUE(store_.save(r));
    }
  }
  auto ring = open_ring();
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->active()->kid, n);
  EXPECT_EQ(store_.records().size(), 3u);
  EXPECT_EQ(count_state(KeyState::kNext), 1u);
}

TEST_F(KeyRingTest, CorruptRecordsAreRefused) {
  ASSERT_TRUE(open_ring());
  auto records = store_.records();
  SigningKeyRecord bad = records[0];
  bad.state = "paused";
  ASSERT_TRUE(store_.save(bad));
  auto r = KeyRing::open(store_, master_, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  ASSERT_TRUE(store_.save(records[0]));
  SigningKeyRecord swapped = records[0];
  swapped.certificate_der = records[1].certificate_der;  // certificate of the other key
  ASSERT_TRUE(store_.save(swapped));
  auto s = KeyRing::open(store_, master_, clock_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("another key"), std::string::npos) << s.error().message;
}

TEST_F(KeyRingTest, SigningDuringRotationAlwaysYieldsPublishedKeys) {
  auto ring = open_ring();
  std::vector<std::string> tokens[4];
  std::atomic<bool> stop{false};
  std::vector<std::thread> signers;
  for (auto& out : tokens) {
    signers.emplace_back([&ring, &out, &stop] {
      while (!stop.load() || out.size() < 5) out.push_back(ring->sign_jwt(nullptr, {{"x", 1}}).value());
    });
  }
  ASSERT_TRUE(ring->rotate());
  ASSERT_TRUE(ring->rotate());
  stop = true;
  for (auto& t : signers) t.join();
  auto set = Jwks::parse(*ring->jwks_text()).value();  // 2 retired + active + next
  EXPECT_EQ(set.keys().size(), 4u);
  for (const auto& out : tokens)
    for (const auto& t : out) ASSERT_TRUE(jws::verify(t, set));
}

}  // namespace
}  // namespace avow::crypto
