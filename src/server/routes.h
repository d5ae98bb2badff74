// Route registration and the error boundary of every handler.
#pragma once

#include <httplib.h>

#include <functional>

#include "engine/model_digests.h"
#include "server/common.h"

namespace hearth::server {

enum class Api { openai, ollama, plain };

// Writes an error in the API's own shape:
//   OpenAI: {"error": {"message", "type", "param", "code"}}
//   Ollama and the rest: {"error": "message"}
void send_error(httplib::Response& res, Api api, int status, const std::string& message,
                const std::string& param = "");

// Wraps a handler: RequestError → its status; hearth::Error → the status of its kind (limit →
// 503 for overload); anything else → 500. Counts requests and errors.
httplib::Server::Handler guarded(Api api, Metrics& metrics, std::function<void(const httplib::Request&, httplib::Response&)> fn);

// JSON text; invalid UTF-8 in model output is replaced, never an exception.
std::string dump(const json& j);

void add_openai_routes(httplib::Server& http, engine::Registry& reg, Metrics& metrics);
// `digests`: the models' SHA-256 for /api/tags and /api/ps (engine/model_digests.h).
void add_ollama_routes(httplib::Server& http, engine::Registry& reg, Metrics& metrics, engine::ModelDigests& digests);
void add_kb_routes(httplib::Server& http, engine::Registry& reg, Metrics& metrics, const std::string& data_dir);  // kb_routes.cpp

}  // namespace hearth::server
