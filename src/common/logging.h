// avow/common/logging.h — structured JSON logs, one object per line on stderr.
//
//   log::init(log::Level::kInfo);
//   log::info("request", {{"request_id", id}, {"route", "/healthz"}, {"status", 200}});
//
// Every line carries `ts` (RFC 3339, UTC, milliseconds), `level` and `msg`, plus the given fields.
// Never pass a secret (a token, a code, a key, a hint, a cookie) as a field: log ids and outcomes only.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace avow::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

// Parses "debug" | "info" | "warn" | "error" | "off".
bool parse_level(std::string_view text, Level* out);

// Sets the threshold. Safe to call more than once; lines are written atomically from any thread.
void init(Level level);
bool enabled(Level level);

void write(Level level, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
inline void debug(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { write(Level::kDebug, m, f); }
inline void info(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { write(Level::kInfo, m, f); }
inline void warn(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { write(Level::kWarn, m, f); }
inline void error(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { write(Level::kError, m, f); }

}  // namespace avow::log
