// Helpers the policy unit tests share: a policy text from lines, and parsing
// that must fail (its diagnostics) or succeed (the policy).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
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

/// A policy that must be rejected with a diagnostic at `line` containing
/// `reason` (and at `column` when non-zero), `count` diagnostics in all.
struct ErrorCase {
    const char* name;
    std::string text;
    int line;
    const char* reason;
    int column = 0;
    size_t count = 1;
};

inline void expect_rejected(const ErrorCase& c) {
    const auto diags = rejects(c.text);
    ASSERT_EQ(diags.size(), c.count) << PolicyError(diags).what();
    const auto it = std::find_if(diags.begin(), diags.end(), [&](const Diagnostic& d) {
        return d.loc.line == c.line && d.reason.find(c.reason) != std::string::npos;
    });
    ASSERT_NE(it, diags.end()) << "want line " << c.line << ": " << c.reason << "\ngot:\n"
                               << PolicyError(diags).what();
    EXPECT_EQ(it->loc.file, "t.yaml");
    if (c.column) {
        EXPECT_EQ(it->loc.column, c.column) << it->str();
    }
}

} // namespace xdpnet::policy
