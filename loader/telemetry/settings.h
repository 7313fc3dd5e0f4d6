// The running instance's telemetry settings (the policy's telemetry section),
// recorded by `up` and `apply` in /run/xdpnet/<instance>.telemetry.json so a
// running daemon follows an `apply` without being told.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "policy/policy.h"

namespace xdpnet::telemetry {

std::string settings_path(const std::string& instance);
nlohmann::json settings_to_json(const policy::TelemetrySpec& t);
/// Throws std::invalid_argument (naming the key) on a malformed document.
policy::TelemetrySpec settings_from_json(const nlohmann::json& j);
/// Writes the file atomically (rename); false when it could not.
bool write_settings(const std::string& instance, const policy::TelemetrySpec& t);
/// The recorded settings; nullopt when there are none (or unreadable).
std::optional<policy::TelemetrySpec> read_settings(const std::string& instance);
void remove_settings(const std::string& instance);

} // namespace xdpnet::telemetry
