// Diagnostics and the error that carries them.
#include "policy/policy.h"

namespace xdpnet::policy {

std::string Diagnostic::str() const {
    std::string where = loc.file;
    if (loc.line > 0) {
        where += ":" + std::to_string(loc.line);
        if (loc.column > 0)
            where += ":" + std::to_string(loc.column);
    }
    if (where.empty())
        return reason;
    return where + ": " + reason;
}

namespace {
std::string join(const std::vector<Diagnostic>& diags) {
    std::string out;
    for (const auto& d : diags) {
        if (!out.empty())
            out += '\n';
        out += d.str();
    }
    return out;
}
} // namespace

PolicyError::PolicyError(std::vector<Diagnostic> diags)
    : std::runtime_error(join(diags)), diags_(std::move(diags)) {}

} // namespace xdpnet::policy
