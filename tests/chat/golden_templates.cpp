// Every real chat template × every conversation × add_generation_prompt in {false, true},
// rendered by hearth and compared byte for byte with Python jinja2's output (produced by the
// chat_template_oracle fixture, tests/oracle/render_templates.py). Where jinja2 raises, hearth
// must raise too. Templates in kExceptions are reported but may differ (docs/chat.md says why).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "chat/chat_template.h"
#include "testdata.h"

namespace fs = std::filesystem;
using namespace hearth::chat;

namespace {

// At most three; each is documented in docs/chat.md.
const std::set<std::string> kExceptions = {};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  try {
    for (const auto& e : fs::directory_iterator(hearth::test::testdata_dir() + "/chat-templates"))
      if (e.path().extension() == ".jinja") names.push_back(e.path().stem().string());
  } catch (const std::exception&) {
    names.push_back("missing_testdata");
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<fs::path> conversations() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(HEARTH_CHAT_CONVERSATIONS_DIR))
    if (e.path().extension() == ".json") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

struct Outcome {
  int pairs = 0;
  int matched = 0;
  std::vector<std::string> failures;
};

std::string first_difference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i > 60 ? i - 60 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  want: ..." + want.substr(from, 120) +
         "\n  got:  ..." + got.substr(from, 120);
}

Outcome check_template(const std::string& name) {
  Outcome o;
  std::string source = read(hearth::test::testdata_file("chat-templates/" + name + ".jinja"));
  std::optional<jinja::Template> tmpl;
  std::string parse_error;
  try {
    tmpl = jinja::Template::parse(source, name + ".jinja");
  } catch (const hearth::Error& e) {
    parse_error = e.what();
  }
  jinja::RenderOptions ropts;
  ropts.now = jinja::parse_fixed_date("2024-07-26");
  for (const auto& conv_path : conversations()) {
    auto conv = nlohmann::ordered_json::parse(read(conv_path));
    ChatInputs in;
    in.messages = conv["messages"];
    if (conv.contains("tools")) in.tools = conv["tools"];
    in.bos_token = conv.value("bos_token", "<s>");
    in.eos_token = conv.value("eos_token", "</s>");
    if (conv.contains("extra")) in.extra = conv["extra"];
    for (int agp = 0; agp <= 1; ++agp) {
      in.add_generation_prompt = agp != 0;
      std::string stem = conv_path.stem().string() + ".agp" + std::to_string(agp);
      fs::path base = fs::path(HEARTH_CHAT_EXPECTED_DIR) / name / stem;
      std::string label = name + " × " + stem;
      ++o.pairs;
      bool want_error = fs::exists(base.string() + ".err");
      if (!want_error && !fs::exists(base.string() + ".txt")) {
        o.failures.push_back(label + ": no expected output (did the chat_template_oracle test run?)");
        continue;
      }
      std::string got, error;
      if (!tmpl) {
        error = parse_error;
      } else {
        try {
          got = apply_chat_template(*tmpl, in, ropts);
        } catch (const hearth::Error& e) {
          error = e.what();
        }
      }
      if (want_error) {
        std::string want_err = read(base.string() + ".err");
        if (!want_err.empty() && want_err.back() == '\n') want_err.pop_back();
        // raise_exception(msg) in the template: hearth must report the same message.
        const std::string kRaised = "TemplateError: ";
        if (error.empty()) {
          o.failures.push_back(label + ": jinja2 raised (" + want_err + ") but hearth rendered");
        } else if (want_err.rfind(kRaised, 0) == 0 && error.find(want_err.substr(kRaised.size())) == std::string::npos) {
          o.failures.push_back(label + ": jinja2 raised (" + want_err + ") but hearth raised: " + error);
        } else {
          ++o.matched;
        }
        continue;
      }
      if (!error.empty()) {
        o.failures.push_back(label + ": hearth raised: " + error);
        continue;
      }
      std::string want = read(base.string() + ".txt");
      if (got == want) ++o.matched;
      else o.failures.push_back(label + ": output differs; " + first_difference(want, got));
    }
  }
  return o;
}

class ChatTemplateGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateGolden, MatchesJinja2) {
  const std::string& name = GetParam();
  ASSERT_NE(name, "missing_testdata") << "test data directory missing: check out ../shared/testdata or set HEARTH_TESTDATA";
  Outcome o = check_template(name);
  std::cout << name << ": " << o.matched << "/" << o.pairs << " pairs match jinja2\n";
  if (kExceptions.count(name)) {
    for (const auto& f : o.failures) std::cout << "  (documented exception) " << f << "\n";
    return;
  }
  for (const auto& f : o.failures) ADD_FAILURE() << f;
}

INSTANTIATE_TEST_SUITE_P(Templates, ChatTemplateGolden, ::testing::ValuesIn(template_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(ChatTemplateGoldenSummary, AllPairs) {
  int pairs = 0, matched = 0, excepted_misses = 0;
  for (const auto& name : template_names()) {
    ASSERT_NE(name, "missing_testdata");
    Outcome o = check_template(name);
    pairs += o.pairs;
    matched += o.matched;
    if (kExceptions.count(name)) excepted_misses += o.pairs - o.matched;
  }
  std::cout << "chat templates: " << matched << "/" << pairs << " template × conversation pairs match jinja2 ("
            << excepted_misses << " misses in documented exceptions)\n";
  EXPECT_LE(kExceptions.size(), 3u);
  EXPECT_EQ(matched + excepted_misses, pairs);
}

}  // namespace
