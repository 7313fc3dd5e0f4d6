// xdpnet: the command. Subcommands live in cmd_*.cpp; docs/cli.md documents them.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/context.h"
#include "datapath/error.h"
#include "datapath/log.h"
#include "policy/policy.h"

int main(int argc, char** argv) {
    using namespace xdpnet;
    cli::Context ctx;
    CLI::App app{"xdpnet: an XDP fast path for VM and container hosts (bridged mode, VLANs, routing, NAT, policing, ACLs)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "xdpnet 0.1.0 (ABI " + std::to_string(XDPNET_ABI_VERSION) + ")");
    app.add_option("-i,--instance", ctx.instance, "instance to talk to")->configurable();
    app.add_flag("-v,--verbose", ctx.verbosity, "more logging (-vv: libbpf trace)");
    app.add_flag("--json", ctx.json, "machine-readable output");
    app.fallthrough();
    // Runs after option parsing, before the subcommand's callback.
    app.parse_complete_callback([&ctx] { setup_logging(ctx.verbosity); });

    cli::register_lifecycle(app, ctx);
    cli::register_status(app, ctx);
    cli::register_fdb(app, ctx);
    cli::register_neigh(app, ctx);
    cli::register_nat(app, ctx);
    cli::register_stats(app, ctx);
    cli::register_controls(app, ctx);
    cli::register_daemon(app, ctx);
    cli::register_flows(app, ctx);
    cli::register_capture(app, ctx);
    cli::register_trace(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return static_cast<int>(ExitCode::Usage);
    } catch (const policy::PolicyError& e) {
        std::cerr << e.what() << std::endl
                  << "policy rejected: nothing was changed" << std::endl;
        return static_cast<int>(ExitCode::Usage);
    } catch (const Error& e) {
        spdlog::error("{}", e.what());
        return static_cast<int>(e.code());
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return static_cast<int>(ExitCode::Failure);
    }
    return 0;
}
