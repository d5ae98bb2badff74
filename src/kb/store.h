// The knowledge-base store: one SQLite database (WAL, foreign keys on) holding every knowledge
// base of the user — documents, chunks, the FTS5 index (tokenizer "hearth", fts_tokenizer.h)
// and tables for embeddings (filled by a later issue). Every document is written in one
// transaction, so a crash or `kill -9` leaves either the old or the new version of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kb/chunk.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hearth::kb {

// 1: first schema; 2: kbs.chunk_tokenizer (ChunkConfig::tokenizer), added to a version-1 store
// on open.
inline constexpr int kSchemaVersion = 2;

// Where hearth keeps its data: `flag` if given, else $HEARTH_DATA_DIR, else
// $XDG_DATA_HOME/hearth, else ~/.local/share/hearth.
std::string data_dir(const std::string& flag = "");
// data_dir(flag) + "/kb.sqlite3"
std::string default_store_path(const std::string& data_dir_flag = "");

struct KbInfo {
  int64_t id = 0;
  std::string name;
  ChunkConfig chunking;
  // Chunking too: the GGUF model file whose tokenizer counts chunk sizes (absolute path,
  // token_counter.h); "" = the estimate (estimate_tokens).
  std::string tokenizer;
  int64_t created_at = 0;  // unix seconds
};

enum class DocStatus { ok, error, skipped };
const char* doc_status_name(DocStatus s);

struct DocRow {
  int64_t id = 0;
  int64_t kb_id = 0;
  std::string path;          // absolute
  std::string format;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string content_hash;  // SHA-256, hex ("" when the file could not be read)
  DocStatus status = DocStatus::ok;
  std::string error;
  int64_t text_length = 0;   // bytes of extracted text
  int pages = 0;
  int64_t chunk_count = 0;
  int64_t ingested_at = 0;
};

struct ChunkRow {
  int64_t id = 0;
  int64_t doc_id = 0;
  int ordinal = 0;
  std::string section;
  int page = 0, page_end = 0;
  int64_t char_start = 0, char_end = 0;  // byte offsets in the document's extracted text
  int tokens = 0;
  std::string text;
};

struct KbStats {
  int64_t documents = 0, documents_ok = 0, documents_error = 0, documents_skipped = 0;
  int64_t chunks = 0, tokens = 0, text_bytes = 0, source_bytes = 0;
  std::vector<std::pair<std::string, int64_t>> formats;        // format → documents
  std::vector<std::pair<int, int64_t>> chunk_token_histogram;  // upper bound → chunks
  int min_tokens = 0, max_tokens = 0;
  double mean_tokens = 0;
};

class Store {
 public:
  // Opens (creating if needed, with parent directories) the store at `path`.
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  sqlite3* db() const { return db_; }

  KbInfo create_kb(const std::string& name, const ChunkConfig& chunking, const std::string& tokenizer = "");
  std::optional<KbInfo> find_kb(const std::string& name);
  KbInfo get_kb(const std::string& name);  // throws not_found with the known names
  std::vector<KbInfo> list_kbs();
  void remove_kb(const std::string& name);

  std::optional<DocRow> find_document(int64_t kb_id, const std::string& path);
  std::vector<DocRow> documents(int64_t kb_id);
  // Replaces the document (by kb_id + path) and all its chunks in one transaction; sets doc.id.
  void put_document(DocRow& doc, const std::vector<ChunkRow>& chunks);
  void set_mtime(int64_t doc_id, int64_t mtime_ns);
  void remove_document(int64_t doc_id);
  std::vector<ChunkRow> chunks_of(int64_t doc_id);
  KbStats stats(int64_t kb_id);

  // Runs SQLite's and FTS5's integrity checks; returns "" when all is well, else the problems.
  std::string integrity_check();

  void exec(const std::string& sql);

 private:
  void migrate();
  std::string path_;
  sqlite3* db_ = nullptr;
};

// A prepared statement with RAII and a few typed helpers.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, const std::string& v);
  Stmt& bind_null(int i);
  bool step();   // true: a row is ready
  void run();    // steps to completion
  void reset();
  int64_t i64(int col) const;
  double f64(int col) const;
  std::string str(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace hearth::kb
