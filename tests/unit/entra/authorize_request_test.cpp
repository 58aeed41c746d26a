#include "entra/authorize_request.h"

#include <gtest/gtest.h>

namespace avow::entra {
namespace {

const char* kEamClaims =
    R"({"id_token":{"acr":{"essential":true,"values":["possessionorinherence"]},"amr":{"essential":true,)"
    R"("values":["face","fido","fpt","hwk","iris","otp","pop","retina","sc","sms","swk","tel","vbm"]}}})";

FormFields eam_form() {
  return {{"scope", "openid"},
          {"response_type", "id_token"},
          {"response_mode", "form_post"},
          {"client_id", "avow-client-1"},
          {"redirect_uri", "https://login.microsoftonline.com/common/federation/externalauthprovider"},
          {"nonce", "n-0S6_WzA2Mj"},
          {"state", "opaque-state"},
          {"id_token_hint", "aaa.bbb.ccc"},
          {"client-request-id", "9b0b2f2e-0000-4000-8000-000000000000"},
          {"claims", kEamClaims}};
}

FormFields with(FormFields f, const std::string& key, const std::string& value) {
  for (auto& [k, v] : f)
    if (k == key) v = value;
  return f;
}

FormFields without(FormFields f, const std::string& key) {
  std::erase_if(f, [&](const auto& kv) { return kv.first == key; });
  return f;
}

TEST(AuthorizeRequest, ParsesAnEamRequest) {
  auto r = parse_authorize_request(eam_form(), Cloud::kGlobal);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->flavor, Flavor::kEam);
  EXPECT_EQ(r->client_id, "avow-client-1");
  EXPECT_EQ(r->nonce, "n-0S6_WzA2Mj");
  EXPECT_EQ(r->state, "opaque-state");
  EXPECT_EQ(r->id_token_hint, "aaa.bbb.ccc");
  EXPECT_EQ(r->acr_values, std::vector<std::string>{"possessionorinherence"});
  EXPECT_EQ(r->amr_values.size(), 13u);
  auto pair = choose_acr_amr(*r, "swk");
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->first, "possessionorinherence");
  EXPECT_EQ(pair->second, "swk");
}

TEST(AuthorizeRequest, ParsesACustomControlRequest) {
  auto f = with(eam_form(), "redirect_uri", "https://login.microsoftonline.com/common/federation/OAuth2ClaimsProvider");
  f = with(f, "claims", R"({"id_token":{"AvowMfa":{"essential":true,"value":"MfaDone"}}})");
  auto r = parse_authorize_request(f, Cloud::kGlobal);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->flavor, Flavor::kCustomControl);
  ASSERT_TRUE(r->custom_claim);
  EXPECT_EQ(r->custom_claim->type, "AvowMfa");
  EXPECT_EQ(r->custom_claim->value, "MfaDone");
}

TEST(AuthorizeRequest, StateIsOptional) {
  auto r = parse_authorize_request(without(eam_form(), "state"), Cloud::kGlobal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->state);
}

TEST(AuthorizeRequest, RefusesMalformedRequestsWithAReason) {
  struct Case {
    FormFields form;
    const char* reason;
  };
  const Case cases[] = {
      {with(eam_form(), "response_type", "code"), "response_type must be id_token"},
      {with(eam_form(), "response_type", "id_token token"), "response_type must be id_token"},
      {with(eam_form(), "response_mode", "query"), "response_mode must be form_post"},
      {with(eam_form(), "scope", "profile"), "scope must include openid"},
      {without(eam_form(), "nonce"), "nonce is required"},
      {without(eam_form(), "id_token_hint"), "id_token_hint is required"},
      {without(eam_form(), "client_id"), "client_id is required"},
      {with(eam_form(), "redirect_uri", "https://login.microsoftonline.com/common/federation/externalauthprovider/"),
       "redirect_uri is not a Microsoft Entra redirect URI for this integration's cloud"},
      {with(eam_form(), "claims", "{not json"), "claims must be a JSON object with an id_token object"},
      {with(eam_form(), "id_token_hint", std::string(17 * 1024, 'a')), "id_token_hint is too long"},
  };
  for (const auto& c : cases) {
    auto r = parse_authorize_request(c.form, Cloud::kGlobal);
    ASSERT_FALSE(r) << c.reason;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message, c.reason);
  }
  auto dup = eam_form();
  dup.emplace_back("nonce", "second");
  auto r = parse_authorize_request(dup, Cloud::kGlobal);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "nonce is repeated");
}

TEST(AuthorizeRequest, CustomControlNeedsExactlyOneClaim) {
  auto f = with(eam_form(), "redirect_uri", "https://login.microsoftonline.com/common/federation/OAuth2ClaimsProvider");
  EXPECT_FALSE(parse_authorize_request(without(f, "claims"), Cloud::kGlobal));
  EXPECT_FALSE(parse_authorize_request(with(f, "claims", R"({"id_token":{"A":{"value":"x"},"B":{"value":"y"}}})"),
                                       Cloud::kGlobal));
  EXPECT_FALSE(parse_authorize_request(with(f, "claims", R"({"id_token":{"A":{"essential":true}}})"), Cloud::kGlobal));
}

TEST(AcrAmr, PicksOneCoveringPair) {
  AuthorizeRequest r;
  r.acr_values = {"knowledge", "possession", "possessionorinherence"};
  r.amr_values = {"otp", "swk", "fpt"};
  EXPECT_EQ(choose_acr_amr(r, "otp")->first, "possession");
  EXPECT_EQ(choose_acr_amr(r, "fpt")->first, "possessionorinherence");
  EXPECT_EQ(choose_acr_amr(r, "swk")->second, "swk");
  EXPECT_EQ(choose_acr_amr(r, "face").error().code, ErrorCode::kConflict);  // not in the amr list
  r.acr_values = {"knowledge"};
  EXPECT_EQ(choose_acr_amr(r, "otp").error().code, ErrorCode::kConflict);
  EXPECT_EQ(choose_acr_amr(r, "password").error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace avow::entra
