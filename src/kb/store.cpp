#include "kb/store.h"

#include <sqlite3.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "kb/fts_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace hearth::kb {

std::string data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = std::getenv("HEARTH_DATA_DIR"); e && *e) return e;
  if (const char* e = std::getenv("XDG_DATA_HOME"); e && *e == '/') return std::string(e) + "/hearth";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/hearth";
  throw_error(ErrorKind::invalid_argument, "cannot find a data directory: set HOME, XDG_DATA_HOME or HEARTH_DATA_DIR");
}

std::string default_store_path(const std::string& flag) { return data_dir(flag) + "/kb.sqlite3"; }

const char* doc_status_name(DocStatus s) {
  switch (s) {
    case DocStatus::ok: return "ok";
    case DocStatus::error: return "error";
    case DocStatus::skipped: return "skipped";
  }
  return "?";
}

static DocStatus parse_status(const std::string& s) {
  return s == "ok" ? DocStatus::ok : s == "skipped" ? DocStatus::skipped : DocStatus::error;
}

static int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---- Stmt ----
Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
    throw_error(ErrorKind::internal, "SQL prepare failed: {} ({})", sqlite3_errmsg(db), sql);
}
Stmt::~Stmt() { sqlite3_finalize(st_); }
Stmt& Stmt::bind(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); return *this; }
Stmt& Stmt::bind(int i, double v) { sqlite3_bind_double(st_, i, v); return *this; }
Stmt& Stmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int i) { sqlite3_bind_null(st_, i); return *this; }
bool Stmt::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ErrorKind kind = rc == SQLITE_FULL || rc == SQLITE_IOERR ? ErrorKind::io
                   : rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? ErrorKind::io
                   : rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? ErrorKind::format
                   : rc == SQLITE_CONSTRAINT ? ErrorKind::invalid_argument : ErrorKind::internal;
  throw_error(kind, "knowledge-base store: {}", sqlite3_errmsg(db_));
}
void Stmt::run() { while (step()) {} }
void Stmt::reset() { sqlite3_reset(st_); sqlite3_clear_bindings(st_); }
int64_t Stmt::i64(int c) const { return sqlite3_column_int64(st_, c); }
double Stmt::f64(int c) const { return sqlite3_column_double(st_, c); }
std::string Stmt::str(int c) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, c));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, c))) : std::string();
}
bool Stmt::is_null(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }

// ---- Store ----
namespace {

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kbs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  chunk_strategy TEXT NOT NULL,
  chunk_target_tokens INTEGER NOT NULL,
  chunk_overlap_tokens INTEGER NOT NULL,
  chunk_tokenizer TEXT NOT NULL DEFAULT '',  -- GGUF model whose tokenizer counts the sizes; '' = estimate
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY,
  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  format TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  mtime_ns INTEGER NOT NULL DEFAULT 0,
  content_hash TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'skipped')),
  error TEXT NOT NULL DEFAULT '',
  text_length INTEGER NOT NULL DEFAULT 0,
  pages INTEGER NOT NULL DEFAULT 0,
  chunk_count INTEGER NOT NULL DEFAULT 0,
  ingested_at INTEGER NOT NULL,
  UNIQUE (kb_id, path)
);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY,
  kb_id INTEGER NOT NULL,
  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  section TEXT NOT NULL DEFAULT '',
  page INTEGER NOT NULL DEFAULT 0,
  page_end INTEGER NOT NULL DEFAULT 0,
  char_start INTEGER NOT NULL,
  char_end INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ordinal);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, kb_id, content='chunks', content_rowid='id', tokenize='hearth');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text, kb_id) VALUES (new.id, new.text, new.kb_id);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text, kb_id) VALUES ('delete', old.id, old.text, old.kb_id);
END;
CREATE TABLE IF NOT EXISTS embedding_models (
  id INTEGER PRIMARY KEY,
  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,
  model TEXT NOT NULL,          -- model id (file name + content hash)
  dims INTEGER NOT NULL,
  dtype TEXT NOT NULL DEFAULT 'f32',
  created_at INTEGER NOT NULL,
  UNIQUE (kb_id, model)
);
CREATE TABLE IF NOT EXISTS embeddings (
  model_id INTEGER NOT NULL REFERENCES embedding_models(id) ON DELETE CASCADE,
  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
  vector BLOB NOT NULL,         -- dims little-endian values of dtype
  PRIMARY KEY (model_id, chunk_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS embeddings_chunk ON embeddings(chunk_id);
)SQL";

}  // namespace

Store::Store(const std::string& path) : path_(path) {
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw_error(ErrorKind::io, "{}: cannot create directory: {}", parent.string(), ec.message());
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw_error(ErrorKind::io, "{}: cannot open the knowledge-base store: {}", path, msg);
  }
  sqlite3_busy_timeout(db_, 30000);
  try {
    register_fts_tokenizer(db_);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    migrate();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    int code = sqlite3_errcode(db_);
    throw_error(code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? ErrorKind::format : ErrorKind::io,
                "{}: {}", path_, msg);
  }
}

void Store::migrate() {
  int version = 0;
  {
    Stmt q(db_, "PRAGMA user_version");
    if (q.step()) version = static_cast<int>(q.i64(0));
  }
  if (version > kSchemaVersion)
    throw_error(ErrorKind::unsupported, "{}: store schema version {} is newer than this hearth ({}); upgrade hearth",
                path_, version, kSchemaVersion);
  if (version == kSchemaVersion) return;
  exec("BEGIN IMMEDIATE");
  try {
    exec(kSchema);
    // version 1 → 2: kbs.chunk_tokenizer (CREATE TABLE IF NOT EXISTS left an old kbs table as it was)
    bool has_tokenizer = false;
    {
      Stmt cols(db_, "PRAGMA table_info(kbs)");
      while (cols.step()) has_tokenizer |= cols.str(1) == "chunk_tokenizer";
    }
    if (!has_tokenizer) exec("ALTER TABLE kbs ADD COLUMN chunk_tokenizer TEXT NOT NULL DEFAULT ''");
    exec("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '" + std::to_string(kSchemaVersion) + "')");
    exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

static KbInfo read_kb(Stmt& q) {
  KbInfo k;
  k.id = q.i64(0);
  k.name = q.str(1);
  k.chunking.strategy = parse_chunk_strategy(q.str(2));
  k.chunking.target_tokens = static_cast<int>(q.i64(3));
  k.chunking.overlap_tokens = static_cast<int>(q.i64(4));
  k.created_at = q.i64(5);
  k.tokenizer = q.str(6);
  return k;
}

KbInfo Store::create_kb(const std::string& name, const ChunkConfig& chunking, const std::string& tokenizer) {
  chunking.validate();
  if (name.empty() || name.size() > 100 || name.find_first_of("/\\\n\r\t") != std::string::npos)
    throw_error(ErrorKind::invalid_argument, "knowledge-base name '{}': use 1–100 characters without slashes", name);
  if (find_kb(name)) throw_error(ErrorKind::invalid_argument, "knowledge base '{}' already exists", name);
  Stmt q(db_, "INSERT INTO kbs(name, chunk_strategy, chunk_target_tokens, chunk_overlap_tokens, created_at, "
              "chunk_tokenizer) VALUES (?, ?, ?, ?, ?, ?)");
  q.bind(1, name).bind(2, std::string(chunk_strategy_name(chunking.strategy))).bind(3, chunking.target_tokens)
      .bind(4, chunking.overlap_tokens).bind(5, now_s()).bind(6, tokenizer).run();
  return get_kb(name);
}

std::optional<KbInfo> Store::find_kb(const std::string& name) {
  Stmt q(db_, "SELECT id, name, chunk_strategy, chunk_target_tokens, chunk_overlap_tokens, created_at, chunk_tokenizer FROM kbs WHERE name = ?");
  q.bind(1, name);
  if (!q.step()) return std::nullopt;
  return read_kb(q);
}

KbInfo Store::get_kb(const std::string& name) {
  if (auto k = find_kb(name)) return *k;
  std::string known;
  for (const auto& k : list_kbs()) known += (known.empty() ? "" : ", ") + k.name;
  throw_error(ErrorKind::not_found, "no knowledge base named '{}' ({})", name,
              known.empty() ? "none exist yet: hearth kb create NAME" : "known: " + known);
}

std::vector<KbInfo> Store::list_kbs() {
  Stmt q(db_, "SELECT id, name, chunk_strategy, chunk_target_tokens, chunk_overlap_tokens, created_at, chunk_tokenizer FROM kbs ORDER BY name");
  std::vector<KbInfo> out;
  while (q.step()) out.push_back(read_kb(q));
  return out;
}

void Store::remove_kb(const std::string& name) {
  KbInfo k = get_kb(name);
  exec("BEGIN IMMEDIATE");
  try {
    Stmt(db_, "DELETE FROM embeddings WHERE model_id IN (SELECT id FROM embedding_models WHERE kb_id = ?)").bind(1, k.id).run();
    Stmt(db_, "DELETE FROM chunks WHERE kb_id = ?").bind(1, k.id).run();
    Stmt(db_, "DELETE FROM documents WHERE kb_id = ?").bind(1, k.id).run();
    Stmt(db_, "DELETE FROM kbs WHERE id = ?").bind(1, k.id).run();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

static const char* kDocCols =
    "id, kb_id, path, format, size, mtime_ns, content_hash, status, error, text_length, pages, chunk_count, ingested_at";

static DocRow read_doc(Stmt& q) {
  DocRow d;
  d.id = q.i64(0);
  d.kb_id = q.i64(1);
  d.path = q.str(2);
  d.format = q.str(3);
  d.size = q.i64(4);
  d.mtime_ns = q.i64(5);
  d.content_hash = q.str(6);
  d.status = parse_status(q.str(7));
  d.error = q.str(8);
  d.text_length = q.i64(9);
  d.pages = static_cast<int>(q.i64(10));
  d.chunk_count = q.i64(11);
  d.ingested_at = q.i64(12);
  return d;
}

std::optional<DocRow> Store::find_document(int64_t kb_id, const std::string& path) {
  std::string sql = std::string("SELECT ") + kDocCols + " FROM documents WHERE kb_id = ? AND path = ?";
  Stmt q(db_, sql.c_str());
  q.bind(1, kb_id).bind(2, path);
  if (!q.step()) return std::nullopt;
  return read_doc(q);
}

std::vector<DocRow> Store::documents(int64_t kb_id) {
  std::string sql = std::string("SELECT ") + kDocCols + " FROM documents WHERE kb_id = ? ORDER BY path";
  Stmt q(db_, sql.c_str());
  q.bind(1, kb_id);
  std::vector<DocRow> out;
  while (q.step()) out.push_back(read_doc(q));
  return out;
}

void Store::put_document(DocRow& doc, const std::vector<ChunkRow>& chunks) {
  exec("BEGIN IMMEDIATE");
  try {
    if (auto old = find_document(doc.kb_id, doc.path)) {
      Stmt(db_, "DELETE FROM chunks WHERE doc_id = ?").bind(1, old->id).run();
      Stmt(db_, "DELETE FROM documents WHERE id = ?").bind(1, old->id).run();
    }
    doc.chunk_count = static_cast<int64_t>(chunks.size());
    doc.ingested_at = now_s();
    Stmt ins(db_, "INSERT INTO documents(kb_id, path, format, size, mtime_ns, content_hash, status, error, text_length, "
                  "pages, chunk_count, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, doc.kb_id).bind(2, doc.path).bind(3, doc.format).bind(4, doc.size).bind(5, doc.mtime_ns)
        .bind(6, doc.content_hash).bind(7, std::string(doc_status_name(doc.status))).bind(8, doc.error)
        .bind(9, doc.text_length).bind(10, doc.pages).bind(11, doc.chunk_count).bind(12, doc.ingested_at).run();
    doc.id = sqlite3_last_insert_rowid(db_);
    Stmt ch(db_, "INSERT INTO chunks(kb_id, doc_id, ordinal, section, page, page_end, char_start, char_end, tokens, text) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?)");
    for (const auto& c : chunks) {
      ch.bind(1, doc.kb_id).bind(2, doc.id).bind(3, c.ordinal).bind(4, c.section).bind(5, c.page).bind(6, c.page_end)
          .bind(7, c.char_start).bind(8, c.char_end).bind(9, c.tokens).bind(10, c.text);
      ch.run();
      ch.reset();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void Store::set_mtime(int64_t doc_id, int64_t mtime_ns) {
  Stmt(db_, "UPDATE documents SET mtime_ns = ? WHERE id = ?").bind(1, mtime_ns).bind(2, doc_id).run();
}

void Store::remove_document(int64_t doc_id) {
  exec("BEGIN IMMEDIATE");
  try {
    Stmt(db_, "DELETE FROM chunks WHERE doc_id = ?").bind(1, doc_id).run();
    Stmt(db_, "DELETE FROM documents WHERE id = ?").bind(1, doc_id).run();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<ChunkRow> Store::chunks_of(int64_t doc_id) {
  Stmt q(db_, "SELECT id, doc_id, ordinal, section, page, page_end, char_start, char_end, tokens, text FROM chunks "
              "WHERE doc_id = ? ORDER BY ordinal");
  q.bind(1, doc_id);
  std::vector<ChunkRow> out;
  while (q.step()) {
    ChunkRow c;
    c.id = q.i64(0);
    c.doc_id = q.i64(1);
    c.ordinal = static_cast<int>(q.i64(2));
    c.section = q.str(3);
    c.page = static_cast<int>(q.i64(4));
    c.page_end = static_cast<int>(q.i64(5));
    c.char_start = q.i64(6);
    c.char_end = q.i64(7);
    c.tokens = static_cast<int>(q.i64(8));
    c.text = q.str(9);
    out.push_back(std::move(c));
  }
  return out;
}

KbStats Store::stats(int64_t kb_id) {
  KbStats s;
  {
    Stmt q(db_, "SELECT count(*), sum(status='ok'), sum(status='error'), sum(status='skipped'), "
                "coalesce(sum(text_length),0), coalesce(sum(size),0) FROM documents WHERE kb_id = ?");
    q.bind(1, kb_id);
    if (q.step()) {
      s.documents = q.i64(0);
      s.documents_ok = q.i64(1);
      s.documents_error = q.i64(2);
      s.documents_skipped = q.i64(3);
      s.text_bytes = q.i64(4);
      s.source_bytes = q.i64(5);
    }
  }
  {
    Stmt q(db_, "SELECT format, count(*) FROM documents WHERE kb_id = ? AND status = 'ok' GROUP BY format ORDER BY 2 DESC");
    q.bind(1, kb_id);
    while (q.step()) s.formats.emplace_back(q.str(0), q.i64(1));
  }
  {
    Stmt q(db_, "SELECT count(*), coalesce(sum(tokens),0), coalesce(min(tokens),0), coalesce(max(tokens),0) FROM chunks WHERE kb_id = ?");
    q.bind(1, kb_id);
    if (q.step()) {
      s.chunks = q.i64(0);
      s.tokens = q.i64(1);
      s.min_tokens = static_cast<int>(q.i64(2));
      s.max_tokens = static_cast<int>(q.i64(3));
      s.mean_tokens = s.chunks ? static_cast<double>(s.tokens) / static_cast<double>(s.chunks) : 0;
    }
  }
  {
    static const int bounds[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
    std::vector<int64_t> counts(std::size(bounds) + 1, 0);
    Stmt q(db_, "SELECT tokens FROM chunks WHERE kb_id = ?");
    q.bind(1, kb_id);
    while (q.step()) {
      int t = static_cast<int>(q.i64(0));
      size_t b = 0;
      while (b < std::size(bounds) && t > bounds[b]) ++b;
      ++counts[b];
    }
    for (size_t b = 0; b < counts.size(); ++b)
      s.chunk_token_histogram.emplace_back(b < std::size(bounds) ? bounds[b] : -1, counts[b]);
  }
  return s;
}

std::string Store::integrity_check() {
  std::string problems;
  {
    Stmt q(db_, "PRAGMA integrity_check");
    while (q.step()) {
      std::string r = q.str(0);
      if (r != "ok") problems += r + "\n";
    }
  }
  {
    Stmt q(db_, "PRAGMA foreign_key_check");
    while (q.step()) problems += "foreign key violation in " + q.str(0) + "\n";
  }
  char* err = nullptr;
  if (sqlite3_exec(db_, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)", nullptr, nullptr, &err) !=
      SQLITE_OK) {
    problems += std::string("full-text index: ") + (err ? err : "?") + "\n";
    sqlite3_free(err);
  }
  return problems;
}

}  // namespace hearth::kb
