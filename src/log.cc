// Debug log: parsed once from HSMPROV_DEBUG, appends lines to stderr or a file.
#include "log.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace hsmprov::log {
namespace {

struct Sink {
  int level = 0;
  FILE* out = stderr;

  Sink() {
    const char* env = std::getenv("HSMPROV_DEBUG");
    if (env == nullptr) return;
    std::string items(env);
    for (size_t start = 0; start <= items.size();) {
      size_t end = items.find(',', start);
      if (end == std::string::npos) end = items.size();
      std::string item = items.substr(start, end - start);
      if (item.rfind("level:", 0) == 0) level = std::atoi(item.c_str() + 6);
      if (item.rfind("file:", 0) == 0) {
        FILE* f = std::fopen(item.c_str() + 5, "a");
        if (f != nullptr) out = f;
      }
      start = end + 1;
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
