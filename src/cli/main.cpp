// hearth — entry point. Builds the command line from one file per subcommand (cli/cmd_*.cpp)
// and is the error boundary: a hearth::Error becomes one line on stderr and an exit code
// chosen by its category (util/error.h); nothing escapes as a crash.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "kernels/matmul.h"
#include "util/error.h"
#include "util/version.h"

namespace {

const char* kDescription =
    "hearth runs GGUF language models on this computer: privately, offline.\n\n"
    "Examples:\n"
    "  hearth show models/stories260K.gguf\n"
    "  hearth tokenize --model models/stories260K.gguf \"Once upon a time\"\n"
    "  hearth run models/stories260K.gguf \"Once upon a time\"\n"
    "  hearth chat models/stories260K.gguf\n"
    "  hearth bench models/stories260K.gguf\n";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kDescription, "hearth"};
  app.set_version_flag("--version", [] {
    return std::string("hearth ") + HEARTH_VERSION + " (kernels: " + hearth::kernels::isa_name() + ")";
  });
  app.require_subcommand(0, 1);
  app.fallthrough(false);

  hearth::cli::Action action;
  hearth::cli::add_show_command(app, action);
  hearth::cli::add_tokenize_command(app, action);
  hearth::cli::add_run_command(app, action);
  hearth::cli::add_bench_command(app, action);
  hearth::cli::add_quantize_command(app, action);
  hearth::cli::add_serve_command(app, action);
  hearth::cli::add_kb_command(app, action);
  hearth::cli::add_template_command(app, action);
  hearth::cli::add_chat_command(app, action);
  auto* help = app.add_subcommand("help", "Show this help");
  // app.help() would describe the selected subcommand (`help` itself); format the root instead.
  help->callback([&] {
    action = [&] {
      std::fputs(app.get_formatter()->make_help(&app, "hearth", CLI::AppFormatMode::Normal).c_str(), stdout);
      return 0;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // prints the message (or help) and returns CLI11's code: 0 for --help
  }
  if (!action) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  try {
    return action();
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return hearth::exit_code_for(e.kind());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "hearth: error: out of memory\n");
    return hearth::exit_code_for(hearth::ErrorKind::limit);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth: internal error: %s\n", e.what());
    return hearth::exit_code_for(hearth::ErrorKind::internal);
  }
}
