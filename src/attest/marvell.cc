// Marvell attestation parsing: every length and offset is checked against
// the data before it is used, and the first one that does not hold is named.
#include "attest/marvell.h"

#include <zlib.h>

#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>

#include "error.h"
#include "file_bytes.h"
#include "keys/public_key.h"
#include "pkcs11/p11.h"

namespace hsmprov::attest::marvell {
namespace {

constexpr size_t kResponseHeaderSize = 16;
constexpr size_t kInfoHeaderSize = 8;
constexpr size_t kObjectHeaderSize = 12;
constexpr size_t kAttributeHeaderSize = 8;
// Far above the 2 KB of a real attestation: a bound for decompression.
constexpr size_t kMaxBlobSize = kMaxFileSize;

[[noreturn]] void invalid(const std::string& what) {
  fail(HSMPROV_R_INVALID_ARGUMENT, "Marvell attestation: " + what);
}

uint32_t u32_at(const Bytes& data, size_t offset, const char* field) {
  if (offset > data.size() || data.size() - offset < 4) invalid(std::string("truncated in ") + field);
  const unsigned char* p = data.data() + offset;
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint16_t u16_at(const Bytes& data, size_t offset, const char* field) {
  if (offset > data.size() || data.size() - offset < 2) invalid(std::string("truncated in ") + field);
  return static_cast<uint16_t>(data[offset] << 8 | data[offset + 1]);
}

bool is_gzip(const Bytes& input) { return input.size() >= 2 && input[0] == 0x1f && input[1] == 0x8b; }

// Inflated in steps that double the buffer: a real attestation is 2 KB,
// and a buffer of the 1 MiB bound for each would cost more than the rest.
struct Inflater {
  z_stream stream{};
  Inflater() {
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) fail(HSMPROV_R_INTERNAL, "cannot start gzip decompression");
  }
  ~Inflater() { inflateEnd(&stream); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
};

Bytes gunzip(const Bytes& input) {
  Inflater inflater;
  z_stream& stream = inflater.stream;
  stream.next_in = const_cast<unsigned char*>(input.data());
  stream.avail_in = static_cast<uInt>(input.size());
  Bytes out;
  int rv = Z_OK;
  while (rv == Z_OK && out.size() <= kMaxBlobSize) {
    size_t produced = out.size();
    out.resize(produced == 0 ? 4096 : 2 * produced);
    stream.next_out = out.data() + produced;
    stream.avail_out = static_cast<uInt>(out.size() - produced);
    rv = inflate(&stream, Z_NO_FLUSH);
    out.resize(stream.total_out);
    if (rv == Z_BUF_ERROR && stream.avail_out > 0) break;  // no progress: the input ended early
    if (rv == Z_BUF_ERROR) rv = Z_OK;                        // the buffer was full: a larger one
  }
  if (out.size() > kMaxBlobSize) invalid("decompresses to more than 1 MiB");
  if (rv != Z_STREAM_END) invalid("the gzip data is truncated or damaged");
  return out;
}

// The attribute buffer's offset, from the response header.
size_t buffer_offset(const Bytes& blob) {
  if (blob.size() < kResponseHeaderSize + kSignatureSize) invalid("truncated: shorter than its header and signature");
  uint32_t total = u32_at(blob, 8, "the response header");
  uint32_t buffer = u32_at(blob, 12, "the response header");
  if (total != blob.size())
    invalid("the header gives " + std::to_string(total) + " bytes, the data has " + std::to_string(blob.size()) +
            (total > blob.size() ? " (truncated)" : ""));
  if (buffer > total - kSignatureSize - kResponseHeaderSize) invalid("the attribute buffer is larger than the data");
  return total - kSignatureSize - buffer;
}

// One object at `offset` of the attribute buffer [start, end).
KeyObject read_object(const Bytes& blob, size_t start, size_t end, size_t offset, const char* which) {
  std::string field = std::string("the ") + which + " object";
  size_t at = start + offset;
  if (offset < kInfoHeaderSize || at > end || end - at < kObjectHeaderSize) invalid(field + " lies outside the buffer");
  KeyObject object;
  object.name = which;
  object.handle = u32_at(blob, at, field.c_str());
  uint32_t count = u32_at(blob, at + 4, field.c_str());
  at += kObjectHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (end - at < kAttributeHeaderSize) invalid("truncated in an attribute of " + field);
    uint32_t type = u32_at(blob, at, field.c_str());
    uint32_t length = u32_at(blob, at + 4, field.c_str());
    at += kAttributeHeaderSize;
    if (length > end - at) invalid("truncated in attribute " + std::to_string(type) + " of " + field);
    if (!object.attributes.emplace(type, Bytes(blob.begin() + at, blob.begin() + at + length)).second)
      invalid(field + " holds attribute " + std::to_string(type) + " twice");
    at += length;
  }
  return object;
}

void require_class(const KeyObject& object, CK_OBJECT_CLASS expected) {
  auto value = object.number(CKA_CLASS);
  if (!value || *value != expected) invalid("the " + object.name + " object is not a " + object.name + " key");
}

// The key compared with a CSR comes from the public object and the flags a
// policy reads from the private one: they must be the two halves of one
// key, or a genuine never-extractable private key could vouch for another
// public key.
void require_same_key(const KeyObject& public_key, const KeyObject& private_key) {
  for (uint32_t type : {CKA_KEY_TYPE, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_ID}) {
    const Bytes* in_public = public_key.find(type);
    const Bytes* in_private = private_key.find(type);
    bool required = type == CKA_KEY_TYPE || type == CKA_MODULUS;  // the exponent is RSA's; an id may be absent
    if ((required && (in_public == nullptr || in_private == nullptr)) ||
        (in_public != nullptr && in_private != nullptr && *in_public != *in_private))
      invalid("the public and private objects do not describe the same key (attribute " + std::to_string(type) + ")");
  }
}

// An EC public key from its curve and point, without OpenSSL 3.0's decoders
// (a third of a verification's time through d2i_PUBKEY). fromdata refuses a
// point that is not on the curve.
EvpPkeyPtr ec_key(const char* curve, const Bytes& point) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
    fail(HSMPROV_R_INTERNAL, "out of memory");
  ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  ERR_set_mark();
  bool made = params && ctx && EVP_PKEY_fromdata_init(ctx.get()) > 0 &&
              EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) > 0;
  ERR_pop_to_mark();
  return EvpPkeyPtr(made ? key : nullptr);
}

// The curves a Marvell HSM generates keys on; the point says which.
EvpPkeyPtr ec_key_from_point(const Bytes& point) {
  for (const char* curve : {"P-256", "secp256k1", "P-384", "P-521"})
    if (EvpPkeyPtr key = ec_key(curve, point)) return key;
  invalid("the EC point lies on none of P-256, secp256k1, P-384, P-521");
}

}  // namespace

const Bytes* KeyObject::find(uint32_t type) const {
  auto it = attributes.find(type);
  return it == attributes.end() ? nullptr : &it->second;
}

std::optional<bool> KeyObject::flag(uint32_t type) const {
  const Bytes* value = find(type);
  if (value == nullptr) return std::nullopt;
  if (value->size() != 1) invalid("attribute " + std::to_string(type) + " of the " + name + " object is not a boolean");
  return (*value)[0] != 0;
}

std::optional<uint64_t> KeyObject::number(uint32_t type) const {
  const Bytes* value = find(type);
  if (value == nullptr) return std::nullopt;
  if (value->empty() || value->size() > 8)
    invalid("attribute " + std::to_string(type) + " of the " + name + " object is not a number");
  uint64_t number = 0;
  for (unsigned char byte : *value) number = number << 8 | byte;
  return number;
}

// A response code of 0 and a total size a real attestation may have: a
// truncated blob still counts, so that its verdict can say it is truncated.
// Gzip data counts when it holds such a blob, or cannot be decompressed
// (a damaged attestation: the verdict says so).
bool looks_like_marvell(const Bytes& input) {
  if (is_gzip(input)) {
    try {
      return looks_like_marvell(gunzip(input));
    } catch (const Error&) {
      return true;
    }
  }
  if (input.size() < kResponseHeaderSize) return false;
  uint32_t total = u32_at(input, 8, "the response header");
  return u32_at(input, 0, "the response header") == 0 && total >= kResponseHeaderSize + kSignatureSize &&
         total <= kMaxBlobSize && u32_at(input, 12, "the response header") < total;
}

Attestation parse(const Bytes& input) {
  Attestation attestation;
  attestation.blob = is_gzip(input) ? gunzip(input) : input;
  const Bytes& blob = attestation.blob;
  if (blob.size() >= 4 && u32_at(blob, 0, "the response header") != 0)
    invalid("the response code is not 0 (the HSM reported an error)");
  size_t start = buffer_offset(blob);
  size_t end = blob.size() - kSignatureSize;
  if (end - start < kInfoHeaderSize) invalid("truncated in the info header");
  attestation.public_key = read_object(blob, start, end, u16_at(blob, start + 4, "the info header"), "public");
  attestation.private_key = read_object(blob, start, end, u16_at(blob, start + 6, "the info header"), "private");
  require_class(attestation.public_key, CKO_PUBLIC_KEY);
  require_class(attestation.private_key, CKO_PRIVATE_KEY);
  require_same_key(attestation.public_key, attestation.private_key);
  return attestation;
}

EvpPkeyPtr public_key(const Attestation& attestation) {
  const KeyObject& object = attestation.public_key;
  auto type = object.number(CKA_KEY_TYPE);
  const Bytes* value = object.find(CKA_MODULUS);  // the EC point too, for an EC key
  if (!type || value == nullptr) invalid("the public object gives no key type or key");
  if (*type == CKK_RSA) {
    const Bytes* exponent = object.find(CKA_PUBLIC_EXPONENT);
    if (exponent == nullptr) invalid("the RSA public key has no exponent");
    return rsa_public_key(nullptr, *value, *exponent);
  }
  if (*type == CKK_EC) return ec_key_from_point(*value);
  invalid("key type " + std::to_string(*type) + " is neither RSA nor EC");
}

bool signed_by(const Attestation& attestation, EVP_PKEY* key) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ERR_set_mark();
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), attestation.signature(), kSignatureSize, attestation.signed_data(),
                             attestation.signed_size()) == 1;
  ERR_pop_to_mark();
  return ok;
}

}  // namespace hsmprov::attest::marvell
