// The plain-form config scan: logical lines, sections, keys, includes of
// files by absolute path; the chain openssl_conf -> providers -> provider
// section, as NCONF would resolve it. Views into the texts throughout: this
// runs in every OpenSSL program that has hsmprov in its config.
#include "config_scan.h"

#include <cstring>
#include <deque>

#include "pin.h"

namespace hsmprov {
namespace {

constexpr int kMaxIncludeDepth = 8;

struct Entry {
  std::string_view section, key, value;
  bool plain;  // no quote, backslash or variable in the line
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// No quote, escape or variable: what NCONF would read differently.
bool plain(std::string_view line) {
  for (char c : line)
    if (c == '"' || c == '\'' || c == '\\' || c == '$') return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

class Reader {
 public:
  explicit Reader(const ReadInclude& read_include) : read_include_(read_include) {}
  // An included file may hold the PIN (the system-wide setup includes
  // hsmprov's section from a file of its own).
  ~Reader() {
    for (std::string& text : texts_) wipe(text);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Appends the entries of `text`, going on in `section`; false when the
  // text is not plain enough to tell.
  bool read(std::string_view text, std::string_view& section, int depth) {
    static constexpr std::string_view bom = "\xEF\xBB\xBF";  // NCONF skips it
    if (text.substr(0, bom.size()) == bom) text.remove_prefix(bom.size());
    const char* next = text.data();
    const char* const end = next + text.size();
    while (next < end) {
      // Pointers, not string_view calls: most of a stock openssl.cnf is
      // comment lines, and this runs in every OpenSSL program.
      const char* eol = static_cast<const char*>(std::memchr(next, '\n', static_cast<size_t>(end - next)));
      if (eol == nullptr) eol = end;
      const char* first = next;
      const char* last = eol;
      next = eol < end ? eol + 1 : end;
      while (first < last && blank(*first)) ++first;
      while (last > first && blank(last[-1])) --last;
      // NCONF joins a line ending in a backslash with the next before it
      // strips comments: even a comment can swallow the next line.
      if (last > first && last[-1] == '\\') return false;
      if (first == last || *first == '#') continue;
      std::string_view raw(first, static_cast<size_t>(last - first));
      std::string_view line = trim(raw.substr(0, raw.find('#')));
      if (line[0] == '.' && !include(line, section, depth)) return false;
      if (line[0] == '.') continue;
      if (line[0] == '[') {
        size_t close = line.find(']');
        section = close == std::string_view::npos ? std::string_view() : trim(line.substr(1, close - 1));
        continue;
      }
      size_t equals = line.find('=');
      if (equals == std::string_view::npos) continue;
      std::string_view key = trim(line.substr(0, equals));
      if (key.find("::") != std::string_view::npos) return false;  // another section's key
      entries.push_back({section, key, trim(line.substr(equals + 1)), plain(line)});
    }
    return true;
  }

  std::vector<Entry> entries;

 private:
  // ".include /absolute/file" (or "= /absolute/file"), read in place as
  // NCONF does; a directory, a relative path or a .pragma is NCONF's.
  bool include(std::string_view line, std::string_view& section, int depth) {
    static constexpr std::string_view directive = ".include";
    if (line.substr(0, directive.size()) != directive || depth >= kMaxIncludeDepth || !plain(line)) return false;
    std::string_view path = trim(line.substr(directive.size()));
    if (!path.empty() && path[0] == '=') path = trim(path.substr(1));
    if (path.empty() || path[0] != '/') return false;
    std::optional<std::string> text = read_include_(std::string(path));
    if (!text) return false;
    texts_.push_back(std::move(*text));
    return read(texts_.back(), section, depth + 1);
  }

  const ReadInclude& read_include_;
  std::deque<std::string> texts_;  // the entries point into them
};

// The last value of `key` in `section` (NCONF keeps the last). Sets doubt
// when the value, or any line of the section, is not plain.
std::optional<std::string_view> value_of(const std::vector<Entry>& entries, std::string_view section,
                                         std::string_view key, bool& doubt) {
  std::optional<std::string_view> value;
  for (const Entry& entry : entries) {
    if (entry.section != section) continue;
    if (entry.key.empty()) doubt = true;  // " = value": NCONF's to judge
    if (entry.key != key) continue;
    value = entry.value;
    doubt = doubt || !entry.plain;
  }
  return value;
}

}  // namespace

std::optional<ScannedSection> scan_provider_section(std::string_view text, const std::string& provider_name,
                                                    const ReadInclude& read_include) {
  Reader reader(read_include);
  reader.entries.reserve(512);
  std::string_view section = "default";
  if (!reader.read(text, section, 0)) return std::nullopt;
  const std::vector<Entry>& entries = reader.entries;
  bool doubt = false;
  auto init = value_of(entries, "default", "openssl_conf", doubt);
  auto providers = init ? value_of(entries, *init, "providers", doubt) : std::nullopt;
  auto own = providers ? value_of(entries, *providers, provider_name, doubt) : std::nullopt;
  if (doubt) return std::nullopt;
  // Sized first: a value may be the PIN, and growing the vector would leave
  // copies of short values (kept inside the strings) in the freed buffer.
  size_t count = 0;
  for (const Entry& entry : entries) {
    if (!own || entry.section != *own) continue;
    if (!entry.plain) return std::nullopt;  // a quote, an escape or a variable: NCONF's reading
    ++count;
  }
  ScannedSection section_entries;
  section_entries.reserve(count);
  for (const Entry& entry : entries)
    if (own && entry.section == *own) section_entries.emplace_back(entry.key, entry.value);
  return section_entries;
}

}  // namespace hsmprov
