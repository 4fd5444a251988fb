// Debug log: parsed once from HSMPROV_DEBUG, appends lines to stderr or a file.
#include "log.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace hsmprov::log {
namespace {

// A setting the log cannot follow is said on stderr: a debug log that stays
// silent because of a typo would mislead whoever is debugging.
void complain(const std::string& what) { std::fprintf(stderr, "hsmprov: HSMPROV_DEBUG: %s\n", what.c_str()); }

struct Sink {
  int level = 0;
  FILE* out = stderr;

  Sink() {
    // Never in a setuid or setgid program (secure_getenv): its caller would
    // choose a file the program appends to with its privileges.
    const char* env = secure_getenv("HSMPROV_DEBUG");
    if (env == nullptr) return;
    std::string items(env);
    for (size_t start = 0; start <= items.size();) {
      size_t end = items.find(',', start);
      if (end == std::string::npos) end = items.size();
      take(items.substr(start, end - start));
      start = end + 1;
    }
  }

  void take(const std::string& item) {
    if (item.rfind("level:", 0) == 0) {
      const char* digits = item.c_str() + 6;
      char* rest = nullptr;
      long value = std::strtol(digits, &rest, 10);
      if (rest == digits || *rest != '\0' || value < 0 || value > 2)
        return complain("'" + item + "': the level is 0, 1 or 2; ignored");
      level = static_cast<int>(value);
    } else if (item.rfind("file:", 0) == 0) {
      // "e": close-on-exec, so that a program the process runs gets no copy.
      FILE* f = std::fopen(item.c_str() + 5, "ae");
      if (f == nullptr) return complain("cannot append to '" + item.substr(5) + "': " + std::strerror(errno) +
                                        "; logging to stderr");
      out = f;
    } else if (!item.empty()) {
      complain("'" + item + "' is neither level:N nor file:PATH; ignored");
    }
  }
};

Sink& sink() {
  static Sink instance;
  return instance;
}

}  // namespace

int level() { return sink().level; }

void write(int at_level, const std::string& message) {
  if (sink().level < at_level) return;
  // The stream's own lock keeps lines whole across threads, and glibc
  // resets it in a child, so a fork while another thread writes cannot
  // leave the child waiting on it (a mutex of ours would).
  FILE* out = sink().out;
  flockfile(out);
  std::fprintf(out, "hsmprov: %s\n", message.c_str());
  std::fflush(out);
  funlockfile(out);
}

}  // namespace hsmprov::log
