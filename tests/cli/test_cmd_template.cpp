// `hearth template`: renders a chat template file for a conversation file, exactly.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "testdata.h"

namespace {

struct Out {
  int code = -1;
  std::string text;
};

Out run(const std::string& args) {
  std::string cmd = "'";
  cmd += hearth::test::hearth_binary();
  cmd += "' ";
  cmd += args;
  auto c = hearth::test::run_command(cmd);
  return {c.code, c.out};
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(CliTemplate, RendersTemplateFile) {
  std::string dir = hearth::test::temp_dir();
  write(dir + "/t.jinja",
        "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
        "{% if tools %}{{ tools|length }} tools{% endif %}{% if add_generation_prompt %}<assistant>{% endif %}\n");
  write(dir + "/m.json", R"([{"role": "user", "content": "hi 你好"}])");
  write(dir + "/tools.json", R"([{"type": "function", "function": {"name": "f"}}])");
  Out r = run("template '" + dir + "/t.jinja' --messages '" + dir + "/m.json' --bos '<s>' 2>&1");
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(r.text, "<s><user>hi 你好");
  r = run("template '" + dir + "/t.jinja' --messages '" + dir + "/m.json' --tools '" + dir +
          "/tools.json' --add-generation-prompt 2>&1");
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(r.text, "<user>hi 你好1 tools<assistant>");
}

TEST(CliTemplate, ErrorsAreReported) {
  std::string dir = hearth::test::temp_dir();
  write(dir + "/bad.jinja", "line\n{% if %}");
  write(dir + "/raise.jinja", "{{ raise_exception('no system role') }}");
  write(dir + "/m.json", R"([{"role": "user", "content": "x"}])");
  Out r = run("template '" + dir + "/bad.jinja' --messages '" + dir + "/m.json' 2>&1");
  EXPECT_EQ(r.code, 4) << r.text;  // format
  EXPECT_NE(r.text.find("bad.jinja:2:"), std::string::npos) << r.text;
  r = run("template '" + dir + "/raise.jinja' --messages '" + dir + "/m.json' 2>&1");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("no system role"), std::string::npos) << r.text;
  r = run("template '" + dir + "/missing.jinja' --messages '" + dir + "/m.json' 2>&1");
  EXPECT_EQ(r.code, 3) << r.text;
}

}  // namespace
