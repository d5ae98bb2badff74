// How the routes shape tool calls: request parsing (tools, assistant tool_calls, tool results)
// and the response message built from a model's output (server/common.h). The integration
// test (js/tools.test.mjs) checks the same wiring through a running server.
#include <gtest/gtest.h>

#include "server/common.h"

namespace hearth::server {
namespace {

TEST(ToolResponse, HermesCallBecomesOpenAIToolCalls) {
  std::string finish = "stop";
  const json msg = openai_chat_message(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", true,
      chat::ToolFormat::hermes, finish);
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_TRUE(msg["content"].is_null());
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  const json& tc = msg["tool_calls"][0];
  EXPECT_EQ(tc["type"], "function");
  EXPECT_EQ(tc["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(tc["function"]["name"], "get_weather");
  ASSERT_TRUE(tc["function"]["arguments"].is_string());  // OpenAI: arguments are JSON text
  EXPECT_EQ(json::parse(tc["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
}

TEST(ToolResponse, TextAroundCallIsContent) {
  std::string finish = "stop";
  const json msg = openai_chat_message("Let me check.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}", true,
                                       chat::ToolFormat::mistral, finish);
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(msg["content"], "Let me check.");
  const std::string id = msg["tool_calls"][0]["id"];
  EXPECT_EQ(id.size(), 9u);  // Mistral's templates require 9-character ids
}

TEST(ToolResponse, NoToolsOrNoCallLeavesText) {
  std::string finish = "length";
  const std::string call = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
  json msg = openai_chat_message(call, false, chat::ToolFormat::hermes, finish);
  EXPECT_EQ(msg["content"], call);
  EXPECT_FALSE(msg.contains("tool_calls"));
  EXPECT_EQ(finish, "length");
  msg = openai_chat_message("Once upon a time", true, chat::ToolFormat::hermes, finish);
  EXPECT_EQ(msg["content"], "Once upon a time");
  EXPECT_EQ(finish, "length");
}

TEST(ToolResponse, OllamaShape) {
  auto parsed = chat::parse_tool_calls("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\", \"days\": 2}}",
                                       chat::ToolFormat::llama3);
  const json calls = ollama_tool_calls(parsed.tool_calls);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(calls[0]["function"]["arguments"], json({{"city", "Rome"}, {"days", 2}}));  // an object, not text
}

TEST(ToolRequest, ParseTools) {
  EXPECT_TRUE(parse_tools(json::object()).is_null());
  EXPECT_TRUE(parse_tools(json{{"tools", json::array()}}).is_null());
  const json ok = {{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", json::object()}}}}}}};
  EXPECT_EQ(parse_tools(ok).size(), 1u);
  auto param_of = [](const json& body) {
    try {
      parse_tools(body);
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status(), 400);
      return e.param();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(param_of(json{{"tools", "f"}}), "tools");
  EXPECT_EQ(param_of(json{{"tools", {1}}}), "tools[0]");
  EXPECT_EQ(param_of(json{{"tools", {{{"type", "code"}, {"function", {{"name", "f"}}}}}}}), "tools[0].type");
  EXPECT_EQ(param_of(json{{"tools", {{{"type", "function"}}}}}), "tools[0].function");
  EXPECT_EQ(param_of(json{{"tools", {{{"function", {{"name", 3}}}}}}}), "tools[0].function.name");
  EXPECT_EQ(param_of(json{{"tools", {{{"function", {{"name", "f"}, {"parameters", "x"}}}}}}}),
            "tools[0].function.parameters");
}

TEST(ToolRequest, MessagesWithCallsAndResultsReachTheTemplate) {
  const json body = json::parse(R"({"messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "22 C"}]})");
  const auto msgs = parse_messages(body);
  const auto t = template_messages(msgs);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_TRUE(t[1]["content"].is_null());
  EXPECT_EQ(t[1]["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(t[1]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");  // text → object
  EXPECT_EQ(t[2]["tool_call_id"], "call_1");
  EXPECT_EQ(t[2]["name"], "get_weather");
  EXPECT_EQ(t[2]["content"], "22 C");

  // Ollama: arguments as an object, tool_name on the result.
  const json ob = json::parse(R"({"messages": [{"role": "assistant", "content": "",
      "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "tool_name": "f", "content": "ok"}]})");
  const auto t2 = template_messages(parse_messages(ob));
  EXPECT_EQ(t2[0]["tool_calls"][0]["function"]["arguments"]["x"], 1);
  EXPECT_EQ(t2[1]["name"], "f");

  const json bad = json::parse(R"({"messages": [{"role": "assistant", "tool_calls": [{"function":
      {"name": "f", "arguments": "not json"}}]}]})");
  try {
    parse_messages(bad);
    FAIL() << "accepted arguments that are not JSON";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.param(), "messages[0].tool_calls[0].function.arguments");
  }
}

}  // namespace
}  // namespace hearth::server
