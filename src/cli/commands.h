// Each subcommand lives in its own file and registers itself on the root CLI11 app.
// Registration stores the action to run in `action`; main() runs it inside the error boundary.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace hearth::cli {

using Action = std::function<int()>;

void add_show_command(CLI::App& app, Action& action);      // cmd_show.cpp
void add_tokenize_command(CLI::App& app, Action& action);  // cmd_tokenize.cpp
void add_run_command(CLI::App& app, Action& action);       // cmd_run.cpp
void add_bench_command(CLI::App& app, Action& action);     // cmd_bench.cpp
void add_quantize_command(CLI::App& app, Action& action);  // cmd_quantize.cpp
void add_serve_command(CLI::App& app, Action& action);     // cmd_serve.cpp
void add_kb_command(CLI::App& app, Action& action);        // cmd_kb.cpp
void add_template_command(CLI::App& app, Action& action);  // cmd_template.cpp
void add_chat_command(CLI::App& app, Action& action);      // cmd_chat.cpp

}  // namespace hearth::cli
