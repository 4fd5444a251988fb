#include "pem_block.h"

#include <string_view>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "error.h"

namespace hsmprov {
namespace {

// Enough for any text before a file's first block, never a whole disk.
constexpr size_t kMaxTextBeforeBlock = 64 * 1024;

// The label of the next PEM block ("-----BEGIN LABEL-----"), reading past
// it; empty when there is none. Lines are looked at where they were read,
// not copied, and the buffer is wiped: the input may be anything, the DER
// of a key reference whose URI holds a pin-value among others.
std::string next_pem_label(BIO* in) {
  static constexpr std::string_view begin = "-----BEGIN ";
  char line[256];
  size_t scanned = 0;
  int got = 0;
  std::string label;
  while (scanned < kMaxTextBeforeBlock && (got = BIO_gets(in, line, sizeof line)) > 0) {
    scanned += static_cast<size_t>(got);
    std::string_view text(line, static_cast<size_t>(got));
    if (text.substr(0, begin.size()) != begin) continue;
    size_t end = text.find("-----", begin.size());
    if (end != std::string_view::npos) {
      label = std::string(text.substr(begin.size(), end - begin.size()));
      break;
    }
  }
  OPENSSL_cleanse(line, sizeof line);
  return label;
}

}  // namespace

std::optional<PemBlock> read_pem_block(BIO* in, const std::function<bool(const std::string&)>& wanted) {
  long start = BIO_tell(in);
  std::string label = next_pem_label(in);
  if (label.empty() || !wanted(label)) return std::nullopt;
  if (start < 0 || BIO_seek(in, start) < 0) fail(HSMPROV_R_INTERNAL, "cannot go back to the start of the " + label);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* body = nullptr;
  long size = 0;
  ERR_set_mark();
  bool read = PEM_read_bio(in, &name, &header, &body, &size) == 1;
  ERR_pop_to_mark();
  if (!read) fail(HSMPROV_R_INVALID_ARGUMENT, "the " + label + " block is damaged (cut short, or not base64)");
  PemBlock block{label, Bytes(body, body + size)};
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_clear_free(body, static_cast<size_t>(size));  // a key reference's URI may hold a pin-value
  return block;
}

}  // namespace hsmprov
