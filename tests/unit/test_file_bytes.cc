// Unit tests: bounded whole-file reading (files, /proc files whose size
// reads as 0, devices that never end, directories).
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

#include "error.h"
#include "file_bytes.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

namespace {

// The message of the Error reading `path` throws, or "" if none.
std::string refusal(const std::string& path, size_t limit) {
  try {
    hsmprov::read_file(path, limit);
  } catch (const hsmprov::Error& e) {
    assert_int_equal(e.reason(), HSMPROV_R_INVALID_ARGUMENT);
    return e.what();
  }
  return "";
}

void a_file_is_read_whole(void**) {
  char path[] = "/tmp/hsmprov-file-bytes-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  std::string content(10000, 'x');
  content += "end";
  assert_int_equal(write(fd, content.data(), content.size()), content.size());
  close(fd);
  auto text = hsmprov::read_text_file(path);
  auto at_limit = hsmprov::read_file(path, content.size());
  std::string over = refusal(path, content.size() - 1);
  unlink(path);
  assert_true(text && *text == content);
  assert_true(at_limit && at_limit->size() == content.size());
  assert_true(over.find("longer than 10002 bytes") != std::string::npos);
}

// /proc files report size 0 and are read until their end: with no limit
// (SIZE_MAX) the buffer must still grow instead of wrapping around.
void a_file_of_unknown_size_is_read_without_a_limit(void**) {
  auto status = hsmprov::read_text_file("/proc/self/status", SIZE_MAX);
  assert_true(status.has_value());
  assert_true(status->rfind("Name:", 0) == 0);
  assert_true(status->find("\nPid:") != std::string::npos);
}

void an_endless_device_stops_at_the_limit(void**) {
  assert_true(refusal("/dev/zero", 100000).find("'/dev/zero' is longer than 100000 bytes") != std::string::npos);
}

void a_directory_is_refused_and_a_missing_file_is_absent(void**) {
  assert_true(refusal("/tmp", 100).find("'/tmp' is a directory") != std::string::npos);
  assert_false(hsmprov::read_file("/nonexistent/hsmprov", 100).has_value());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_file_is_read_whole),
      cmocka_unit_test(a_file_of_unknown_size_is_read_without_a_limit),
      cmocka_unit_test(an_endless_device_stops_at_the_limit),
      cmocka_unit_test(a_directory_is_refused_and_a_missing_file_is_absent),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
