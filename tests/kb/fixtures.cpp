#include "fixtures.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "testdata.h"

namespace fs = std::filesystem;

namespace hearth::kb::test {

std::string write_file(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string read_whole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

hearth::test::CommandResult kb(const std::string& data, const std::vector<std::string>& args, bool with_stderr) {
  using hearth::test::shell_quote;
  std::string cmd = "HEARTH_DATA_DIR=" + shell_quote(data) + " " + shell_quote(hearth::test::hearth_binary()) + " kb";
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += with_stderr ? " 2>&1" : " 2>/dev/null";
  return hearth::test::run_command(cmd);
}

void run_python(const std::string& script) {
  std::string dir = hearth::test::temp_dir();
  std::string py = write_file(dir + "/gen.py", script);
  const auto r = hearth::test::run_command("/usr/bin/python3 " + hearth::test::shell_quote(py) + " 2>&1");
  if (r.code != 0) {
    throw std::runtime_error("python3 failed (is python3-docx installed? bash scripts/setup-deps.sh):\n" + r.out);
  }
}

static std::string make_generated() {
  std::string dir = hearth::test::temp_dir() + "/docs";
  fs::create_directories(dir);
  run_python("import zipfile, docx\nd = '" + dir + R"PY('
doc = docx.Document()
doc.add_heading('Garden Handbook', level=1)
doc.add_paragraph('Tomatoes need full sun and regular watering in summer.')
doc.add_heading('Soil', level=2)
doc.add_paragraph('Loamy soil with compost keeps roots healthy. 土壤需要堆肥。')
t = doc.add_table(rows=2, cols=2)
t.cell(0, 0).text = 'Plant'; t.cell(0, 1).text = 'Spacing'
t.cell(1, 0).text = 'Basil'; t.cell(1, 1).text = '20 cm'
doc.add_heading('Pests', level=2)
doc.add_paragraph('Aphids are washed off with a jet of water.')
doc.save(d + '/garden.docx')

content = '''<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2">
<office:body><office:text>
<text:h text:outline-level="1">Travel Diary</text:h>
<text:p>We took the night train to Vienna.<text:s text:c="2"/>It was late.</text:p>
<text:h text:outline-level="2">Day Two</text:h>
<text:list><text:list-item><text:p>Visited the opera house</text:p></text:list-item></text:list>
<table:table><table:table-row><table:table-cell><text:p>Cost</text:p></table:table-cell>
<table:table-cell><text:p>42 EUR</text:p></table:table-cell></table:table-row></table:table>
</office:text></office:body></office:document-content>'''
with zipfile.ZipFile(d + '/diary.odt', 'w') as z:
    z.writestr('mimetype', 'application/vnd.oasis.opendocument.text', compress_type=zipfile.ZIP_STORED)
    z.writestr('content.xml', content)
    z.writestr('META-INF/manifest.xml', '<manifest/>')

open(d + '/notes-gb18030.txt', 'wb').write(('本地模型的笔记。\n\n量化模型可以在笔记本电脑上运行，速度很快。'
    '我们比较了不同的量化方法，并记录了内存占用和生成速度。\n' * 3).encode('gb18030'))
open(d + '/notes-utf16.txt', 'wb').write('\ufeffUTF-16 notes about llamas.\n\nSecond paragraph.\n'.encode('utf-16-le'))
open(d + '/latin1.txt', 'wb').write('Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade. '.encode('latin-1') * 20)
open(d + '/plants.csv', 'w').write('name,height,notes\nsunflower,200,"tall, yellow"\nfern,40,"likes ""shade"""\n')
open(d + '/plants.tsv', 'w').write('name\theight\nmoss\t2\n')
open(d + '/config.json', 'w').write('{"server": {"port": 8080, "hosts": ["a", "b"]}, "name": "hearth"}')
open(d + '/book.xml', 'w').write('<book><title>Rivers</title><section><title>Danube</title><para>The Danube flows '
    'through ten countries.</para></section></book>')
open(d + '/page.html', 'w').write('<html><head><title>t</title><style>p{}</style></head><body><h1>Recipes</h1>'
    '<p>Bread needs <b>flour</b>, water &amp; salt.</p><h2>Soup</h2><ul><li>Onion</li><li>Leek</li></ul>'
    '<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Salt</td><td>1 tsp</td></tr></table>'
    '<pre>code  block\n  kept</pre><script>var x;</script></body></html>')
open(d + '/readme.md', 'w').write('# Project\n\nIntro text with *emphasis*.\n\n## Install\n\n- step one\n- step two\n\n'
    '```\nmake run\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Use\n\nRun it &amp; enjoy.\n')
# bad inputs
open(d + '/junk.bin', 'wb').write(bytes(range(256)) * 40)
open(d + '/empty.md', 'w').write('')
open(d + '/broken.pdf', 'wb').write(b'%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ngarbage garbage\n%%EOF\n')
open(d + '/broken.docx', 'wb').write(b'PK\x03\x04 this is not really a zip file')
open(d + '/bad.json', 'w').write('{"unterminated": [1, 2')
)PY");
  return dir;
}

const std::string& generated_dir() {
  static std::string dir = make_generated();
  return dir;
}

std::string debian_policy_dir() {
  std::string d = "/usr/share/doc/debian-policy";
  if (!fs::is_directory(d)) throw std::runtime_error(d + " missing: run bash scripts/setup-deps.sh (debian-policy)");
  return d;
}
std::string debian_reference_dir() {
  std::string d = "/usr/share/debian-reference";
  if (!fs::exists(d + "/ch02.zh-cn.html") || !fs::exists(d + "/ch02.en.html"))
    throw std::runtime_error(d + " incomplete: run bash scripts/setup-deps.sh (debian-reference-en, -zh-cn)");
  return d;
}
std::string chinese_markdown() { return hearth::test::testdata_file("corpus/local-llm-guide-zh.md"); }

static bool ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string coverage_problem(const Extracted& doc, const std::vector<Chunk>& chunks) {
  std::vector<char> covered(doc.text.size() + 1, 0);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    if (c.start >= c.end || c.end > doc.text.size()) return "chunk " + std::to_string(i) + " has a bad range";
    for (size_t k = c.start; k < c.end; ++k) covered[k] = 1;
  }
  for (size_t k = 0; k < doc.text.size(); ++k) {
    if (!covered[k] && !ws(doc.text[k]))
      return "byte " + std::to_string(k) + " not in any chunk: …" + doc.text.substr(k, 60) + "…";
  }
  return "";
}

std::string block_coverage_problem(const Extracted& doc) {
  std::vector<char> covered(doc.text.size() + 1, 0);
  size_t prev_end = 0;
  for (const auto& b : doc.blocks) {
    if (b.start < prev_end || b.end > doc.text.size() || b.start >= b.end) return "blocks overlap or are out of range";
    prev_end = b.end;
    for (size_t k = b.start; k < b.end; ++k) covered[k] = 1;
  }
  for (size_t k = 0; k < doc.text.size(); ++k)
    if (!covered[k] && !ws(doc.text[k])) return "byte " + std::to_string(k) + " in no block";
  return "";
}

}  // namespace hearth::kb::test
