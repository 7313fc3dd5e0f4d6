#include "telemetry/settings.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace xdpnet::telemetry {

std::string settings_path(const std::string& instance) {
    return "/run/xdpnet/" + instance + ".telemetry.json";
}

nlohmann::json settings_to_json(const policy::TelemetrySpec& t) {
    nlohmann::json j = {{"flows", t.flows},
                        {"flow_size", t.flow_size},
                        {"idle_timeout_ns", t.idle_timeout_ns},
                        {"active_timeout_ns", t.active_timeout_ns},
                        {"prometheus", nullptr},
                        {"ipfix", nullptr},
                        {"jsonl", nullptr}};
    if (t.prometheus_listen)
        j["prometheus"] = *t.prometheus_listen;
    if (t.ipfix)
        j["ipfix"] = {{"collector", t.ipfix->collector},
                      {"transport", t.ipfix->transport == policy::IpfixSpec::Transport::Tcp ? "tcp" : "udp"},
                      {"template_refresh_ns", t.ipfix->template_refresh_ns},
                      {"observation_domain", t.ipfix->observation_domain}};
    if (t.jsonl)
        j["jsonl"] = *t.jsonl;
    return j;
}

policy::TelemetrySpec settings_from_json(const nlohmann::json& j) {
    policy::TelemetrySpec t;
    try {
        t.flows = j.at("flows").get<bool>();
        t.flow_size = j.at("flow_size").get<uint32_t>();
        t.idle_timeout_ns = j.at("idle_timeout_ns").get<uint64_t>();
        t.active_timeout_ns = j.at("active_timeout_ns").get<uint64_t>();
        t.prometheus_listen = j.at("prometheus").is_null()
                                  ? std::nullopt
                                  : std::optional<std::string>(j.at("prometheus").get<std::string>());
        if (!j.at("ipfix").is_null()) {
            const auto& x = j.at("ipfix");
            policy::IpfixSpec s;
            s.collector = x.at("collector").get<std::string>();
            s.transport = x.at("transport").get<std::string>() == "tcp" ? policy::IpfixSpec::Transport::Tcp
                                                                       : policy::IpfixSpec::Transport::Udp;
            s.template_refresh_ns = x.at("template_refresh_ns").get<uint64_t>();
            s.observation_domain = x.at("observation_domain").get<uint32_t>();
            t.ipfix = s;
        }
        if (!j.at("jsonl").is_null())
            t.jsonl = j.at("jsonl").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(std::string("telemetry settings: ") + e.what());
    }
    return t;
}

bool write_settings(const std::string& instance, const policy::TelemetrySpec& t) {
    ::mkdir("/run/xdpnet", 0755);
    const std::string path = settings_path(instance), tmp = path + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << settings_to_json(t).dump(1) << std::endl;
    f.close();
    return f && ::rename(tmp.c_str(), path.c_str()) == 0;
}

std::optional<policy::TelemetrySpec> read_settings(const std::string& instance) {
    std::ifstream f(settings_path(instance));
    if (!f)
        return std::nullopt;
    try {
        return settings_from_json(nlohmann::json::parse(f));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void remove_settings(const std::string& instance) { ::unlink(settings_path(instance).c_str()); }

} // namespace xdpnet::telemetry
