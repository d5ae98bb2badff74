// Chat formatting (chat/format.h): the plain fallback format, templates with the model's
// BOS/EOS, and tokenizing a rendered prompt (control tokens parsed, BOS not doubled).
#include <gtest/gtest.h>

#include "chat/format.h"
#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"

namespace hearth::chat {
namespace {

using ojson = nlohmann::ordered_json;

TEST(ChatFormatPlain, SystemTurnsAndGenerationPrompt) {
  ChatInputs in;
  in.messages = ojson::parse(R"([{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "Tell a story"}])");
  in.add_generation_prompt = true;
  EXPECT_EQ(format_plain(in), "Be brief.\n\nUser: Hi\nAssistant: Hello!\nUser: Tell a story\nAssistant:");
  in.add_generation_prompt = false;
  EXPECT_EQ(format_plain(in), "Be brief.\n\nUser: Hi\nAssistant: Hello!\nUser: Tell a story\n");
}

TEST(ChatFormatPlain, ToolsAndToolCalls) {
  ChatInputs in;
  in.tools = ojson::parse(R"([{"type": "function", "function": {"name": "get_weather"}}])");
  in.messages = ojson::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "content": "22 C"}])");
  in.add_generation_prompt = true;
  EXPECT_EQ(format_plain(in),
            "S\n\n"
            "You can call these tools:\n"
            "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}\n"
            "To call a tool, answer with <tool_call>{\"name\": NAME, \"arguments\": {ARGUMENTS}}</tool_call>.\n\n"
            "User: Paris?\n"
            "Assistant: <tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>\n"
            "Tool: 22 C\n"
            "Assistant:");
  // What the fallback teaches parses back with its format (hermes).
  ChatFormat none(std::nullopt, "", "");
  EXPECT_FALSE(none.has_template());
  auto p = parse_tool_calls("<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>",
                            none.tool_format());
  ASSERT_EQ(p.tool_calls.size(), 1u);
}

std::unique_ptr<tokenizer::Tokenizer> sample_tokenizer() {
  auto f = gguf::File::open(test::source_dir() + "/models/stories260K.gguf");
  return tokenizer::Tokenizer::from_gguf(f);
}

TEST(ChatFormatTemplate, ModelWithoutTemplateUsesFallback) {
  auto f = gguf::File::open(test::source_dir() + "/models/stories260K.gguf");
  auto tok = tokenizer::Tokenizer::from_gguf(f);
  auto cf = ChatFormat::from_model(f, *tok);
  EXPECT_FALSE(cf.has_template());
  EXPECT_EQ(cf.bos_token(), "<s>");
  EXPECT_EQ(cf.eos_token(), "</s>");
  ChatInputs in;
  in.messages = ojson::parse(R"([{"role": "user", "content": "Hi"}])");
  in.add_generation_prompt = true;
  const std::string text = cf.render(in);
  EXPECT_EQ(text, "User: Hi\nAssistant:");
  EXPECT_EQ(cf.tokenize(*tok, text), tok->encode(text, true, false));
}

TEST(ChatFormatTemplate, BosFromTemplateIsNotDoubled) {
  auto tok = sample_tokenizer();
  ASSERT_TRUE(tok->vocab().add_bos);
  const tokenizer::Token bos = tok->vocab().bos;
  const char* src = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}"
                    "{% if add_generation_prompt %}[assistant]{% endif %}";
  ChatFormat cf(std::string(src), "<s>", "</s>");
  EXPECT_TRUE(cf.has_template());
  ChatInputs in;
  in.messages = ojson::parse(R"([{"role": "user", "content": "Once upon a time"}])");
  in.add_generation_prompt = true;
  const std::string text = cf.render(in);
  EXPECT_EQ(text, "<s>[user] Once upon a time</s>[assistant]");
  auto ids = cf.tokenize(*tok, text);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], bos);
  EXPECT_NE(ids[1], bos);
  // "</s>" is parsed as the EOS control token, not spelled out.
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->vocab().eos), 1);
}

TEST(ChatFormatTemplate, BosAddedWhenTemplateHasNone) {
  auto tok = sample_tokenizer();
  ChatFormat cf(std::string("{% for m in messages %}{{ m.content }}{% endfor %}"), "<s>", "</s>");
  ChatInputs in;
  in.messages = ojson::parse(R"([{"role": "user", "content": "Once upon a time"}])");
  auto ids = cf.tokenize(*tok, cf.render(in));
  EXPECT_EQ(ids, tok->encode("Once upon a time", true, false));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->vocab().bos), 1);
}

TEST(ChatFormatTemplate, ToolsReachTheTemplateAndFormatIsDetected) {
  ChatFormat cf(std::string("{% if tools %}{% for t in tools %}<tools>{{ t.function.name }}</tools>{% endfor %}{% endif %}"
                            "{% for m in messages %}{{ m.content }}{% endfor %}<tool_call>"),
                "", "");
  EXPECT_EQ(cf.tool_format(), ToolFormat::hermes);
  ChatInputs in;
  in.messages = ojson::parse(R"([{"role": "user", "content": "x"}])");
  in.tools = ojson::parse(R"([{"type": "function", "function": {"name": "f1"}}])");
  EXPECT_EQ(cf.render(in), "<tools>f1</tools>x<tool_call>");
}

TEST(ChatFormatTemplate, TemplateErrorsAreTemplateErrors) {
  EXPECT_THROW(ChatFormat(std::string("{% for %}"), "", ""), jinja::TemplateError);
  ChatFormat cf(std::string("{{ raise_exception('no system role') }}"), "", "");
  EXPECT_THROW(cf.render(ChatInputs{}), jinja::TemplateError);
}

}  // namespace
}  // namespace hearth::chat
