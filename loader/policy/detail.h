// Private helpers shared by the policy sources. Not part of the interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xdpnet::policy::detail {

constexpr uint16_t kVlanMin = 1;
constexpr uint16_t kVlanMax = 4094;

/// Parses an unsigned decimal ("0".."999..."): digits only, no sign, no
/// spaces. Saturates at UINT64_MAX on overflow so callers report "out of
/// range" rather than "not a number". nullopt when not all digits.
std::optional<uint64_t> parse_decimal(std::string_view text);

/// Why `vid` is not a usable VLAN ID, or "" when it is (1..4094).
std::string vlan_error(uint64_t vid);

} // namespace xdpnet::policy::detail
