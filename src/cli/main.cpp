// hearth — entry point. Dispatches to one file per subcommand (cli/cmd_*.cpp) and turns
// hearth::Error into a message on stderr and a non-zero exit code.
#include <cstdio>
#include "util/version.h"
int main(int argc, char** argv) {
  std::printf("hearth %s\n", HEARTH_VERSION);
  return 0;
}
