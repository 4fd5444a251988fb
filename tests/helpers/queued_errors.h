// The text of OpenSSL's error queue, emptying it: what a test program
// prints when an operation fails, or checks is empty when it succeeds.
#pragma once

#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>

inline std::string queued_errors() {
  BIO* out = BIO_new(BIO_s_mem());
  ERR_print_errors(out);
  char* data = nullptr;
  long size = BIO_get_mem_data(out, &data);
  std::string text(data, static_cast<size_t>(size));
  BIO_free(out);
  return text;
}
