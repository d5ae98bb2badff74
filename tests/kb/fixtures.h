// Test documents for the knowledge base: real ones read in place (Debian manuals installed by
// scripts/setup-deps.sh, ../shared/testdata/corpus), and DOCX/ODT/… generated at test time
// (python3-docx, zipfile) — no binary fixture is committed.
#pragma once

#include <string>
#include <vector>

#include "kb/chunk.h"
#include "kb/extract.h"
#include "testdata.h"

namespace hearth::kb::test {

std::string write_file(const std::string& path, const std::string& bytes);
std::string read_whole(const std::string& path);
// Runs a Python script with Debian's python3 (which has python3-docx); fails the test on error.
void run_python(const std::string& script);

// `hearth kb ARGS…` with its store in `data` (HEARTH_DATA_DIR): exit code and stdout (plus
// stderr when with_stderr).
hearth::test::CommandResult kb(const std::string& data, const std::vector<std::string>& args,
                               bool with_stderr = true);

// A folder with one generated file per format (docx, odt, html, md, txt in GB18030 and
// UTF-16, csv, tsv, json, xml) and some bad ones; made once per process.
const std::string& generated_dir();

std::string debian_policy_dir();     // /usr/share/doc/debian-policy
std::string debian_reference_dir();  // /usr/share/debian-reference
std::string chinese_markdown();      // ../shared/testdata/corpus/local-llm-guide-zh.md

// Empty when every non-whitespace byte of doc.text lies in some chunk and every chunk is a
// valid range; else a description of the first gap.
std::string coverage_problem(const Extracted& doc, const std::vector<Chunk>& chunks);

// The non-whitespace bytes of the text that lie in no block (extractor invariant).
std::string block_coverage_problem(const Extracted& doc);

}  // namespace hearth::kb::test
