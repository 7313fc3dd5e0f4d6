// Helpers the policy unit tests share: a policy text from lines, and parsing
// that must fail (its diagnostics) or succeed (the policy).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace xdpnet::policy {

inline std::string yaml(std::initializer_list<std::string> lines) {
    std::string out;
    for (const auto& l : lines)
        out += l + "\n";
    return out;
}

/// The diagnostics of a policy that must be rejected (a test failure if accepted).
inline std::vector<Diagnostic> rejects(const std::string& text) {
    try {
        parse_policy(text, "t.yaml");
    } catch (const PolicyError& e) {
        return e.diagnostics();
    }
    ADD_FAILURE() << "policy accepted:\n" << text;
    return {};
}

/// A policy that must be accepted (a test failure if rejected).
inline Policy accepts(const std::string& text) {
    try {
        return parse_policy(text, "t.yaml");
    } catch (const PolicyError& e) {
        ADD_FAILURE() << "policy rejected:\n" << e.what() << "\n---\n" << text;
        return {};
    }
}

} // namespace xdpnet::policy
