// The terminate handler of the C++ runtime hsmprov links in (see
// CMakeLists.txt). libstdc++'s default, the verbose handler, brings a C++
// name demangler along: 37 KB of code and 3 KB of pointer tables that the
// dynamic linker relocates in every program that loads hsmprov, which with
// a system-wide config is every OpenSSL program (docs/performance.md).
// Defining the handler here keeps libstdc++'s definition (its
// eh_term_handler.o) out of the link. Every entry point catches, so only a
// bug reaches std::terminate: this says so, with the exception's message,
// and aborts.
#include <cstdio>
#include <cstdlib>
#include <exception>

namespace {

[[noreturn]] void report_and_abort() {
  try {
    if (std::exception_ptr escaped = std::current_exception()) std::rethrow_exception(escaped);
    std::fputs("hsmprov: internal error: std::terminate called\n", stderr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hsmprov: internal error: an exception escaped: %s\n", e.what());
  } catch (...) {
    std::fputs("hsmprov: internal error: an exception escaped\n", stderr);
  }
  std::abort();
}

}  // namespace

namespace __cxxabiv1 {
std::terminate_handler __terminate_handler = report_and_abort;
}  // namespace __cxxabiv1
