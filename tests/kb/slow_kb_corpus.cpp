// The whole Debian corpora (policy: HTML, text, PDF, EPUB; reference: English and Chinese HTML,
// text and PDF): ingest throughput, store size, search latency p50/p99 over ≥ 10,000 chunks.
// Label `slow`; prints the figures (docs/kb.md quotes them).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "fixtures.h"
#include "kb/ingest.h"
#include "kb/search.h"
#include "kb/store.h"
#include "testdata.h"

using namespace hearth::kb;
using namespace hearth::kb::test;

TEST(KbCorpus, IngestAndSearchTheDebianManuals) {
  std::string dir = hearth::test::temp_dir();
  Store s(dir + "/kb.sqlite3");
  KbInfo k = s.create_kb("debian", {ChunkStrategy::structure, 200, 0});
  IngestOptions o;
  o.progress = false;
  IngestReport r = ingest_paths(s, k, {debian_policy_dir(), debian_reference_dir()}, o);
  KbStats st = s.stats(k.id);
  s.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  double store_mb = static_cast<double>(std::filesystem::file_size(dir + "/kb.sqlite3")) / 1e6;
  double mb = static_cast<double>(r.bytes) / 1e6, text_mb = static_cast<double>(st.text_bytes) / 1e6;
  std::printf("ingest: %lld files (%lld failed, %lld skipped), %.1f MB read, %.1f MB text, %lld chunks in %.2f s: "
              "%.2f MB/s, %.1f files/s\n",
              static_cast<long long>(r.files), static_cast<long long>(r.failed), static_cast<long long>(r.skipped), mb,
              text_mb, static_cast<long long>(st.chunks), r.seconds, mb / r.seconds, static_cast<double>(r.files) / r.seconds);
  std::printf("store: %.1f MB, %.2f MB per MB of extracted text\n", store_mb, store_mb / text_mb);
  EXPECT_GE(st.chunks, 10000);
  EXPECT_EQ(s.integrity_check(), "");

  const char* queries[] = {"package maintainer scripts", "软件包管理", "network configuration", "网络配置",
                           "systemd journal", "文件系统", "ssh key", "密码", "debconf priority", "/usr/local",
                           "备份和恢复", "upstream changelog", "locale", "内核模块", "virtual package names"};
  std::vector<double> ms;
  for (int round = 0; round < 20; ++round) {
    for (const char* q : queries) {
      auto t0 = std::chrono::steady_clock::now();
      auto hits = search(s, k, q);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      EXPECT_FALSE(hits.empty()) << q;
    }
  }
  std::sort(ms.begin(), ms.end());
  std::printf("search over %lld chunks: p50 %.2f ms, p99 %.2f ms (%zu queries, k=10)\n",
              static_cast<long long>(st.chunks), ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.size());

  IngestReport again = ingest_paths(s, k, {debian_policy_dir(), debian_reference_dir()}, o);
  std::printf("re-run with nothing changed: %.2f s\n", again.seconds);
  EXPECT_EQ(again.unchanged, r.files);
}
