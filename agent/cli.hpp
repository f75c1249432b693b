#pragma once
// The agent's command line (CLI11): `tailgate [--config FILE] [--validate]` and
// `tailgate explain TRACE_ID`. --help lists the environment variables, signals and exit codes.

#include <optional>
#include <string>

namespace tailgate::cli {

struct Options {
  std::string config_path;  ///< empty: the built-in defaults
  bool validate = false;
  bool explain = false;  ///< the `explain` subcommand: the fields below
  std::string trace_id;
  std::string admin;  ///< host:port; empty: admin.endpoint of the config
  bool json = false;
};

/// Fills `options` from argv. Returns an exit code when the program stops here: 0 after --help
/// or --version (printed to stdout), 2 for a bad command line (the error and usage on stderr).
[[nodiscard]] std::optional<int> parse(int argc, char** argv, Options& options);

}  // namespace tailgate::cli
