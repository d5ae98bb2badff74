// Tool-call parsing on output as the models write it (chat/tool_calls.h), format detection on
// the real templates, and round trips: a call rendered by a model's own template (as it was
// trained to write it) parses back to the same call.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/tool_calls.h"
#include "testdata.h"

namespace hearth::chat {
namespace {

using ojson = nlohmann::ordered_json;

ParsedOutput parse(std::string_view text, ToolFormat f) { return parse_tool_calls(text, f); }

void expect_call(const ToolCall& c, const std::string& name, const char* args_json) {
  EXPECT_EQ(c.name, name);
  EXPECT_EQ(c.arguments, ojson::parse(args_json)) << c.arguments.dump();
}

// ---- Qwen 2.5 / Qwen 3 / Hermes: <tool_call>{json}</tool_call> ----

TEST(ToolCallsHermes, Qwen25ParallelCalls) {
  // Qwen2.5-7B-Instruct answering "What's the temperature in San Francisco now? How about tomorrow?"
  const char* out =
      "<tool_call>\n"
      "{\"name\": \"get_current_temperature\", \"arguments\": {\"location\": \"San Francisco, CA, USA\"}}\n"
      "</tool_call>\n"
      "<tool_call>\n"
      "{\"name\": \"get_temperature_date\", \"arguments\": {\"location\": \"San Francisco, CA, USA\", \"date\": "
      "\"2024-10-01\"}}\n"
      "</tool_call>";
  auto p = parse(out, ToolFormat::hermes);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  expect_call(p.tool_calls[0], "get_current_temperature", R"({"location": "San Francisco, CA, USA"})");
  expect_call(p.tool_calls[1], "get_temperature_date", R"({"location": "San Francisco, CA, USA", "date": "2024-10-01"})");
  EXPECT_EQ(p.content, "");
}

TEST(ToolCallsHermes, Qwen3WithThinkingKeepsTextAsContent) {
  const char* out =
      "<think>\nThe user wants the weather in Paris. I should call get_weather with city Paris.\n</think>\n\n"
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>";
  auto p = parse(out, ToolFormat::hermes);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris", "unit": "celsius"})");
  EXPECT_EQ(p.content, "<think>\nThe user wants the weather in Paris. I should call get_weather with city Paris.\n</think>");
}

TEST(ToolCallsHermes, Hermes2ProArgumentsFirst) {
  // Hermes-2-Pro-Llama-3 puts "arguments" before "name".
  auto p = parse("<tool_call>\n{\"arguments\": {\"symbol\": \"TSLA\"}, \"name\": \"get_stock_fundamentals\"}\n</tool_call>",
                 ToolFormat::hermes);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_stock_fundamentals", R"({"symbol": "TSLA"})");
}

TEST(ToolCallsHermes, TextBeforeCallAndArgumentsAsString) {
  auto p = parse("Sure, let me look that up.\n<tool_call>\n{\"name\": \"search\", \"arguments\": \"{\\\"q\\\": \\\"llama\\\"}\"}\n</tool_call>\n",
                 ToolFormat::hermes);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "search", R"({"q": "llama"})");
  EXPECT_EQ(p.content, "Sure, let me look that up.");
}

TEST(ToolCallsHermes, UnclosedLastCallAtEndOfOutput) {
  // Generation stopped at <|im_end|> before </tool_call> was written.
  auto p = parse("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n", ToolFormat::hermes);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_time", "{}");
}

TEST(ToolCallsHermes, Qwen3CoderXmlBody) {
  const char* out =
      "I'll check the weather.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
      "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
  auto p = parse(out, ToolFormat::hermes);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris", "days": 3})");
  EXPECT_EQ(p.content, "I'll check the weather.");
}

TEST(ToolCallsHermes, MalformedCallStaysText) {
  const std::string out = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par\n</tool_call>";
  auto p = parse(out, ToolFormat::hermes);
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_EQ(p.content, out);
  // Plain text, no markup.
  auto q = parse("The capital of France is Paris.", ToolFormat::hermes);
  EXPECT_TRUE(q.tool_calls.empty());
  EXPECT_EQ(q.content, "The capital of France is Paris.");
}

// ---- Llama 3.x: {"name": …, "parameters": …}, <|python_tag|> ----

TEST(ToolCallsLlama3, Llama31PythonTagJson) {
  auto p = parse("<|python_tag|>{\"name\": \"get_current_conditions\", \"parameters\": {\"location\": \"San Francisco, CA\", "
                 "\"unit\": \"Fahrenheit\"}}",
                 ToolFormat::llama3);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_current_conditions", R"({"location": "San Francisco, CA", "unit": "Fahrenheit"})");
  EXPECT_EQ(p.content, "");
}

TEST(ToolCallsLlama3, Llama32BareJsonWithType) {
  // Llama 3.2 3B often adds "type": "function".
  auto p = parse("{\"type\": \"function\", \"name\": \"get_user_info\", \"parameters\": {\"user_id\": 7890, \"special\": "
                 "\"black\"}}",
                 ToolFormat::llama3);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_user_info", R"({"user_id": 7890, "special": "black"})");
}

TEST(ToolCallsLlama3, SeveralCallsSeparatedBySemicolon) {
  auto p = parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"get_weather\", "
                 "\"parameters\": {\"city\": \"Tokyo\"}}",
                 ToolFormat::llama3);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  expect_call(p.tool_calls[1], "get_weather", R"({"city": "Tokyo"})");
}

TEST(ToolCallsLlama3, BuiltinToolCall) {
  auto p = parse("<|python_tag|>brave_search.call(query=\"current weather in Menlo Park, California\")",
                 ToolFormat::llama3);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "brave_search", R"({"query": "current weather in Menlo Park, California"})");
}

TEST(ToolCallsLlama3, TextAndNonCallJsonStayText) {
  for (const char* out : {"The weather in Paris is sunny.", "{\"answer\": 42}",
                          "Here is the call: {\"name\": \"f\", \"parameters\": {}}",
                          "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par"}) {
    auto p = parse(out, ToolFormat::llama3);
    EXPECT_TRUE(p.tool_calls.empty()) << out;
    EXPECT_EQ(p.content, out);
  }
}

// ---- Mistral: [TOOL_CALLS] ----

TEST(ToolCallsMistral, NemoJsonArray) {
  auto p = parse("[TOOL_CALLS][{\"name\": \"get_current_weather\", \"arguments\": {\"location\": \"Paris, France\", "
                 "\"format\": \"celsius\"}, \"id\": \"a1B2c3D4e\"}]",
                 ToolFormat::mistral);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_current_weather", R"({"location": "Paris, France", "format": "celsius"})");
  EXPECT_EQ(p.tool_calls[0].id, "a1B2c3D4e");
}

TEST(ToolCallsMistral, V03SpaceAndTwoCalls) {
  auto p = parse(" [TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}, {\"name\": \"mul\", "
                 "\"arguments\": {\"a\": 3, \"b\": 4}}]",
                 ToolFormat::mistral);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  expect_call(p.tool_calls[1], "mul", R"({"a": 3, "b": 4})");
  EXPECT_EQ(p.content, "");
}

TEST(ToolCallsMistral, Small32NameArgs) {
  auto p = parse("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_weather[ARGS]{\"city\": \"London\"}",
                 ToolFormat::mistral);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris"})");
  expect_call(p.tool_calls[1], "get_weather", R"({"city": "London"})");
}

TEST(ToolCallsMistral, CallIdAndTextBefore) {
  auto p = parse("Let me check that for you.[TOOL_CALLS]search_docs[CALL_ID]Xy12Ab34C[ARGS]{\"query\": \"GGUF format\"}",
                 ToolFormat::mistral);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "search_docs", R"({"query": "GGUF format"})");
  EXPECT_EQ(p.tool_calls[0].id, "Xy12Ab34C");
  EXPECT_EQ(p.content, "Let me check that for you.");
}

TEST(ToolCallsMistral, TruncatedCallStaysText) {
  const std::string out = "[TOOL_CALLS]get_weather[ARGS]{\"city\": ";
  auto p = parse(out, ToolFormat::mistral);
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_EQ(p.content, out);
}

TEST(ToolCalls, NoneFormatNeverParses) {
  const std::string out = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
  auto p = parse(out, ToolFormat::none);
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_EQ(p.content, out);
}

TEST(ToolCalls, Ids) {
  const std::string m = make_tool_call_id(ToolFormat::mistral, 42);
  EXPECT_EQ(m.size(), 9u);
  for (char c : m) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
  const std::string o = make_tool_call_id(ToolFormat::hermes, 42);
  EXPECT_EQ(o.rfind("call_", 0), 0u);
  EXPECT_EQ(o.size(), 29u);
  EXPECT_NE(make_tool_call_id(ToolFormat::hermes, 43), o);
}

// ---- Real templates ----

std::string read_template(const std::string& name) {
  std::ifstream in(test::testdata_file("chat-templates/" + name), std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ToolFormatDetect, RealTemplates) {
  const std::pair<const char*, ToolFormat> cases[] = {
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ToolFormat::hermes},
      {"Qwen-Qwen3-0.6B.jinja", ToolFormat::hermes},
      {"Qwen3-Coder.jinja", ToolFormat::hermes},
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", ToolFormat::hermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", ToolFormat::hermes},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ToolFormat::llama3},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", ToolFormat::llama3},
      {"meta-llama-Llama-3.3-70B-Instruct.jinja", ToolFormat::llama3},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolFormat::mistral},
      {"Mistral-Small-3.2-24B-Instruct-2506.jinja", ToolFormat::mistral},
      {"unsloth-mistral-Devstral-Small-2507.jinja", ToolFormat::mistral},
      {"mistralai-Ministral-3-14B-Reasoning-2512.jinja", ToolFormat::mistral},
      {"google-gemma-2-2b-it.jinja", ToolFormat::none},
      {"GLM-4.6.jinja", ToolFormat::none},
  };
  for (const auto& [file, expected] : cases)
    EXPECT_EQ(tool_format_name(detect_tool_format(read_template(file))), std::string(tool_format_name(expected))) << file;
}

// The assistant turn a template renders for a call, parsed back with the detected format.
ParsedOutput round_trip(const std::string& file, const std::string& start_marker, const std::string& end_marker) {
  const std::string src = read_template(file);
  auto tmpl = jinja::Template::parse(src, file);
  ChatInputs in;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.tools = ojson::parse(R"([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  in.messages = ojson::parse(R"([
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "abcDEF123", "type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "abcDEF123", "name": "get_weather", "content": "22 C"}])");
  jinja::RenderOptions ro;
  ro.now = jinja::parse_fixed_date("2024-07-26");
  const std::string text = apply_chat_template(tmpl, in, ro);
  const size_t a = text.rfind(start_marker, text.find("22 C"));
  EXPECT_NE(a, std::string::npos) << text;
  const size_t b = text.find(end_marker, a);
  EXPECT_NE(b, std::string::npos) << text;
  return parse_tool_calls(text.substr(a + start_marker.size(), b - a - start_marker.size()), detect_tool_format(src));
}

TEST(ToolCallsRoundTrip, QwenTemplate) {
  auto p = round_trip("Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_start|>assistant\n", "<|im_end|>");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris"})");
}

TEST(ToolCallsRoundTrip, Llama31Template) {
  auto p = round_trip("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|start_header_id|>assistant<|end_header_id|>\n\n",
                      "<|eot_id|>");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris"})");
}

TEST(ToolCallsRoundTrip, MistralSmall32Template) {
  auto p = round_trip("Mistral-Small-3.2-24B-Instruct-2506.jinja", "[/INST]", "</s>");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris"})");
}

TEST(ToolCallsRoundTrip, MistralNemoTemplate) {
  auto p = round_trip("mistralai-Mistral-Nemo-Instruct-2407.jinja", "[/INST]", "</s>");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  expect_call(p.tool_calls[0], "get_weather", R"({"city": "Paris"})");
  EXPECT_EQ(p.tool_calls[0].id, "abcDEF123");
}

// Model output is untrusted: every prefix of real outputs (generation cut anywhere) and random
// byte mutations must parse without crashing; with no calls found the text comes back as is,
// and calls always have a name and object arguments. (fuzz/tool_calls.cpp is the libFuzzer
// version.)
TEST(ToolCalls, TruncatedAndMutatedOutputsAreSafe) {
  const std::vector<std::string> samples = {
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": [1, 2.5, null]}}\n</tool_call>",
      "<tool_call>\n<function=f>\n<parameter=x>\n{\"a\": 1}\n</parameter>\n</function>\n</tool_call>",
      "<|python_tag|>brave_search.call(query=\"a \\\"b\\\" c\", n=3)",
      "{\"name\": \"f\", \"parameters\": {\"s\": \"}{][\"}}; {\"name\": \"g\", \"parameters\": {}}",
      "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": \"[ARGS]\"}, \"id\": \"abcdefghi\"}]",
      "text[TOOL_CALLS]f[CALL_ID]abc123def[ARGS]{\"a\": {\"b\": [\"c\"]}}[TOOL_CALLS]g[ARGS]{}",
  };
  uint64_t state = 12345;
  auto rnd = [&state]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  size_t calls_seen = 0;
  auto check = [&](const std::string& text) {
    for (ToolFormat f : {ToolFormat::hermes, ToolFormat::llama3, ToolFormat::mistral, ToolFormat::none}) {
      ParsedOutput out = parse_tool_calls(text, f);
      if (out.tool_calls.empty()) {
        ASSERT_EQ(out.content, text);
      }
      for (const ToolCall& c : out.tool_calls) {
        ASSERT_FALSE(c.name.empty());
        ASSERT_TRUE(c.arguments.is_object());
        (void)c.arguments.dump(-1, ' ', false, ojson::error_handler_t::replace);
        ++calls_seen;
      }
    }
  };
  for (const std::string& s : samples) {
    for (size_t n = 0; n <= s.size(); ++n) check(s.substr(0, n));
    for (int i = 0; i < 500; ++i) {
      std::string m = s;
      const int edits = 1 + static_cast<int>(rnd() % 4);
      for (int e = 0; e < edits && !m.empty(); ++e) {
        const size_t at = rnd() % m.size();
        switch (rnd() % 3) {
          case 0: m[at] = static_cast<char>(rnd() & 0xff); break;
          case 1: m.erase(at, 1 + rnd() % 4); break;
          default: m.insert(at, 1, "{}[]\"\\<>/=;"[rnd() % 13]); break;
        }
      }
      check(m);
    }
  }
  EXPECT_GT(calls_seen, 0u);
}

}  // namespace
}  // namespace hearth::chat
