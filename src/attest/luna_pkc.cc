// PKC parsing: the PKCS#7 walk (keeping each certificate's bytes), the ECDSA
// signature re-encoding, and the structure rules.
#include "attest/luna_pkc.h"

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "der.h"
#include "error.h"

namespace hsmprov::pkc {

using attest::spki_der;
using attest::subject_of;

namespace {

const unsigned char kSignedDataOid[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
const char kRolePrefix[] = "1.3.6.1.4.1.12383.1.";

[[noreturn]] void broken(const std::string& rule, const std::string& detail) {
  fail(HSMPROV_R_INVALID_ARGUMENT, "PKC rule '" + rule + "' fails: " + detail);
}

der::Tlv expect(const unsigned char*& at, const unsigned char* end, unsigned char tag, const char* what) {
  auto tlv = der::read(at, static_cast<size_t>(end - at));
  if (!tlv && at < end && *at == tag)  // the right start, cut short: a partial download, a truncated copy
    broken("pkcs7", std::string("the file is truncated: its ") + what + " runs past the end of what encloses it");
  if (!tlv || tlv->tag != tag) broken("pkcs7", std::string("not a PKCS#7 SignedData: bad ") + what);
  at += tlv->total_size;
  return *tlv;
}

Bytes from_pem(const Bytes& input) {
  BioPtr in(BIO_new_mem_buf(input.data(), static_cast<int>(input.size())));
  char *name = nullptr, *header = nullptr;
  unsigned char* data = nullptr;
  long size = 0;
  if (!in || PEM_read_bio(in.get(), &name, &header, &data, &size) != 1) broken("pkcs7", "unreadable PEM");
  bool pkcs7 = is_pkcs7_label(name);
  Bytes der(data, data + size);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (!pkcs7) broken("pkcs7", "the PEM block is not PKCS7");
  return der;
}

// The certificates of a certs-only SignedData, each as its own bytes.
std::vector<Bytes> certificates_of(const Bytes& der) {
  const unsigned char* at = der.data();
  const unsigned char* end = at + der.size();
  der::Tlv top = expect(at, end, 0x30, "ContentInfo");
  if (at != end) broken("pkcs7", "bytes after the PKCS#7 structure");
  at = top.content;
  end = top.content + top.content_size;
  der::Tlv type = expect(at, end, 0x06, "contentType");
  if (type.content_size != sizeof kSignedDataOid || std::memcmp(type.content, kSignedDataOid, sizeof kSignedDataOid))
    broken("pkcs7", "the PKCS#7 is not SignedData");
  der::Tlv wrapper = expect(at, end, 0xa0, "content");
  at = wrapper.content;
  end = wrapper.content + wrapper.content_size;
  der::Tlv signed_data = expect(at, end, 0x30, "SignedData");
  at = signed_data.content;
  end = signed_data.content + signed_data.content_size;
  expect(at, end, 0x02, "version");
  expect(at, end, 0x31, "digestAlgorithms");
  der::Tlv content_info = expect(at, end, 0x30, "encapContentInfo");
  const unsigned char* inner = content_info.content;
  expect(inner, content_info.content + content_info.content_size, 0x06, "eContentType");
  if (inner != content_info.content + content_info.content_size)
    broken("certs-only", "the SignedData carries content: a signed message, not a PKC");
  std::vector<Bytes> certificates;
  if (at < end && *at == 0xa0) {
    der::Tlv set = expect(at, end, 0xa0, "certificates");
    for (const unsigned char* c = set.content; c < set.content + set.content_size;) {
      const unsigned char* start = c;
      expect(c, set.content + set.content_size, 0x30, "certificate");
      certificates.emplace_back(start, c);
    }
  }
  if (at < end && *at == 0xa1) expect(at, end, 0xa1, "crls");
  der::Tlv signer_infos = expect(at, end, 0x31, "signerInfos");
  if (signer_infos.content_size != 0)
    broken("certs-only", "the SignedData carries signer infos: a signed message, not a PKC");
  if (certificates.empty()) broken("certs-only", "the SignedData holds no certificates");
  return certificates;
}

X509Ptr parse_certificate(const Bytes& der, size_t position) {
  const unsigned char* p = der.data();
  X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x509 || p != der.data() + der.size())
    broken("certificate", "certificate " + std::to_string(position) + " in the file cannot be parsed");
  return x509;
}

// Whether the certificate's signatureAlgorithm is ECDSA (an OID under
// 1.2.840.10045.4), read from the DER so that a certificate is parsed by
// OpenSSL once: on OpenSSL 3.0 d2i_X509 is most of a PKC's verification
// time. False for anything malformed; d2i_X509 then says what is wrong.
bool signed_with_ecdsa(const Bytes& der) {
  static constexpr unsigned char kEcdsaArc[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04};  // 1.2.840.10045.4
  auto outer = der::read(der.data(), der.size());
  if (!outer || outer->tag != 0x30) return false;
  const unsigned char* end = outer->content + outer->content_size;
  auto tbs = der::read(outer->content, outer->content_size);
  if (!tbs) return false;
  const unsigned char* at = outer->content + tbs->total_size;
  auto algorithm = der::read(at, static_cast<size_t>(end - at));
  if (!algorithm || algorithm->tag != 0x30) return false;
  auto oid = der::read(algorithm->content, algorithm->content_size);
  return oid && oid->tag == 0x06 && oid->content_size > sizeof kEcdsaArc &&
         std::memcmp(oid->content, kEcdsaArc, sizeof kEcdsaArc) == 0;
}

// Luna signs some certificates with an ECDSA-Sig-Value that is not DER (an
// INTEGER lacking its 0x00 sign byte). The same r and s, encoded as DER,
// verify over the unchanged TBS: rebuild the Certificate SEQUENCE from the
// file's TBS and algorithm bytes and the re-encoded signature.
bool reencode_ecdsa_signature(Bytes& der) {
  const unsigned char* at = der.data();
  auto outer = der::read(at, der.size());
  const unsigned char* end = outer->content + outer->content_size;
  at = outer->content;
  der::Tlv tbs = expect(at, end, 0x30, "tbsCertificate");
  der::Tlv algorithm = expect(at, end, 0x30, "signatureAlgorithm");
  der::Tlv bits = expect(at, end, 0x03, "signatureValue");
  if (bits.content_size < 2 || bits.content[0] != 0) return false;
  const unsigned char* sig = bits.content + 1;
  const unsigned char* sig_end = bits.content + bits.content_size;
  der::Tlv seq = expect(sig, sig_end, 0x30, "ECDSA-Sig-Value");
  const unsigned char* values = seq.content;
  der::Tlv r = expect(values, seq.content + seq.content_size, 0x02, "r");
  der::Tlv s = expect(values, seq.content + seq.content_size, 0x02, "s");
  Bytes strict = der::ecdsa_signature(r.content, r.content_size, s.content, s.content_size);
  if (Bytes(bits.content + 1, sig_end) == strict) return false;  // already DER
  strict.insert(strict.begin(), 0);  // no unused bits
  Bytes body(tbs.content - (tbs.total_size - tbs.content_size), tbs.content + tbs.content_size);
  body.insert(body.end(), algorithm.content - (algorithm.total_size - algorithm.content_size),
              algorithm.content + algorithm.content_size);
  Bytes bit_string = der::write(0x03, strict);
  body.insert(body.end(), bit_string.begin(), bit_string.end());
  der = der::write(0x30, body);
  return true;
}

// The role EKUs the profiles use; an OID matches one only exactly (not
// 12383.1.13.99, not an arc that wraps to 13 in 32 bits).
const std::vector<int>& known_roles() {
  static const std::vector<int> roles = {1, 7, 8, 12, 13, 14, 15};
  return roles;
}


std::string role_name(int role) { return std::string(kRolePrefix) + std::to_string(role); }

std::string oid_text(const ASN1_OBJECT* object) {
  int length = OBJ_obj2txt(nullptr, 0, object, 1);
  if (length <= 0) return "";
  std::string text(static_cast<size_t>(length) + 1, '\0');
  OBJ_obj2txt(text.data(), length + 1, object, 1);
  text.resize(static_cast<size_t>(length));
  return text;
}

int role_of(const X509* x509) {
  auto* usages = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x509, NID_ext_key_usage, nullptr, nullptr));
  int role = 0;
  for (int i = 0; usages != nullptr && i < sk_ASN1_OBJECT_num(usages) && role == 0; ++i) {
    std::string oid = oid_text(sk_ASN1_OBJECT_value(usages, i));  // every arc, however long
    for (int known : known_roles())
      if (oid == role_name(known)) role = known;
  }
  EXTENDED_KEY_USAGE_free(usages);
  return role;
}


// Leaf first, each next certificate the issuer of the one before.
std::vector<Certificate> ordered_chain(std::vector<Certificate> certificates) {
  auto leaves = std::count_if(certificates.begin(), certificates.end(),
                              [](const Certificate& c) { return c.role == kRoleKeyAttestation; });
  if (leaves != 1)
    broken("one-leaf", std::to_string(leaves) + " certificates carry the key-attestation EKU " +
                           role_name(kRoleKeyAttestation) + "; a PKC has exactly one");
  std::vector<Certificate> chain;
  auto take = [&](auto predicate) {
    auto it = std::find_if(certificates.begin(), certificates.end(), predicate);
    if (it == certificates.end()) return false;
    chain.push_back(std::move(*it));
    certificates.erase(it);
    return true;
  };
  take([](const Certificate& c) { return c.role == kRoleKeyAttestation; });
  while (X509_NAME_cmp(X509_get_issuer_name(chain.back().x509.get()), X509_get_subject_name(chain.back().x509.get()))) {
    const X509_NAME* issuer = X509_get_issuer_name(chain.back().x509.get());
    if (!take([&](const Certificate& c) { return X509_NAME_cmp(X509_get_subject_name(c.x509.get()), issuer) == 0; }))
      broken("chain", "the chain stops at '" + subject_of(chain.back().x509.get()) + "': its issuer is not in the file");
  }
  if (!certificates.empty())
    broken("chain", "certificate '" + subject_of(certificates.front().x509.get()) + "' is not in the leaf's chain");
  return chain;
}

std::string check_roles(const std::vector<Certificate>& chain) {
  const std::vector<int>& profile = chain.size() == rsa_profile().size() ? rsa_profile() : ecc_profile();
  if (chain.size() != profile.size())
    broken("roles", "the chain has " + std::to_string(chain.size()) +
                        " certificates; a PKC has 5 (RSA, Chrysalis-ITS) or 3 (ECC)");
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].role != profile[i])
      broken("roles", "certificate '" + subject_of(chain[i].x509.get()) + "' at chain position " + std::to_string(i) +
                          " has role EKU " + (chain[i].role ? role_name(chain[i].role) : "(none)") + ", expected " +
                          role_name(profile[i]));
  }
  return &profile == &rsa_profile() ? "rsa" : "ecc";
}

const ASN1_OCTET_STRING* extension_value(const X509* x509, const char* oid) {
  Asn1ObjectPtr object(OBJ_txt2obj(oid, 1));
  int at = X509_get_ext_by_OBJ(x509, object.get(), -1);
  return at < 0 ? nullptr : X509_EXTENSION_get_data(X509_get_ext(x509, at));
}

std::string name_entry(const X509* x509, int nid) {
  const X509_NAME* name = X509_get_subject_name(x509);
  int at = X509_NAME_get_index_by_NID(name, nid, -1);
  if (at < 0) return "";
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<size_t>(ASN1_STRING_length(value)));
}

uint32_t little_endian(const ASN1_OCTET_STRING* value) {
  uint32_t n = 0;
  for (int i = ASN1_STRING_length(value) - 1; i >= 0; --i) n = (n << 8) | ASN1_STRING_get0_data(value)[i];
  return n;
}

size_t signed_data_header(const unsigned char* der, size_t size) {
  // SEQUENCE { OID signedData, ... }, read from the headers only: a
  // truncated PKC is still one, and parse() says it is truncated.
  if (size < 2 || der[0] != 0x30) return 0;
  size_t header = 2 + ((der[1] & 0x80) ? (der[1] & 0x7f) : 0);
  if (size < header + 2 + sizeof kSignedDataOid) return 0;  // before pointing past the end
  const unsigned char* type = der + header;
  if (type[0] != 0x06 || type[1] != sizeof kSignedDataOid || std::memcmp(type + 2, kSignedDataOid, sizeof kSignedDataOid) != 0)
    return 0;
  return header;
}

}  // namespace

bool is_pkcs7_label(const std::string& label) { return label == "PKCS7" || label == "PKCS #7 SIGNED DATA"; }

bool is_signed_data(const unsigned char* der, size_t size) { return signed_data_header(der, size) != 0; }

bool looks_like_pkc(const unsigned char* der, size_t size) {
  size_t header = signed_data_header(der, size);
  if (header == 0) return false;
  // Then an OID TLV starting with the role arc: 06 len 2b 06 01 04 01 e0 5f 01.
  static constexpr unsigned char kRoleArc[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xe0, 0x5f, 0x01};
  for (size_t at = header; at + 2 + sizeof kRoleArc < size; ++at) {
    if (der[at] == 0x06 && der[at + 1] > sizeof kRoleArc && std::memcmp(der + at + 2, kRoleArc, sizeof kRoleArc) == 0)
      return true;
  }
  return false;
}

const std::vector<int>& rsa_profile() {
  static const std::vector<int> roles = {13, 12, 8, 7, 1};
  return roles;
}

const std::vector<int>& ecc_profile() {
  static const std::vector<int> roles = {13, 15, 14};
  return roles;
}

Pkc parse(const Bytes& input) {
  if (input.empty()) broken("pkcs7", "the file is empty");
  // PEM as OpenSSL reads it: text may stand before the block, lines may end in CRLF.
  static const std::string begin = "-----BEGIN ";
  bool pem = input[0] != 0x30 && std::search(input.begin(), input.end(), begin.begin(), begin.end()) != input.end();
  std::vector<Certificate> certificates;
  for (Bytes& der : certificates_of(pem ? from_pem(input) : input)) {
    Certificate certificate;
    certificate.signature_reencoded = signed_with_ecdsa(der) && reencode_ecdsa_signature(der);
    certificate.x509 = parse_certificate(der, certificates.size());
    certificate.role = role_of(certificate.x509.get());
    certificate.der = std::move(der);
    certificates.push_back(std::move(certificate));
  }
  Pkc pkc;
  pkc.chain = ordered_chain(std::move(certificates));
  pkc.profile = check_roles(pkc.chain);
  // What a PKC attests is its leaf's key: one OpenSSL cannot read attests nothing.
  if (X509_get0_pubkey(pkc.chain.front().x509.get()) == nullptr)
    broken("leaf-key", "the attested public key of '" + subject_of(pkc.chain.front().x509.get()) +
                           "' cannot be read");
  return pkc;
}

std::string hsm_serial(const Pkc& pkc) {
  const ASN1_OCTET_STRING* value = extension_value(pkc.chain.front().x509.get(), "1.3.6.1.4.1.12383.2.1");
  return value && ASN1_STRING_length(value) == 4 ? std::to_string(little_endian(value)) : "";
}

// 12383.2.3 holds the version as a little-endian uint32: major in the high
// half, minor and patch as the two decimal digits of the low half (the
// sample's 0x00070054 is firmware 7.8.4).
std::string firmware_version(const Pkc& pkc) {
  const ASN1_OCTET_STRING* value = extension_value(pkc.chain.front().x509.get(), "1.3.6.1.4.1.12383.2.3");
  if (!value || ASN1_STRING_length(value) != 4) return "";
  uint32_t n = little_endian(value);
  return std::to_string(n >> 16) + "." + std::to_string((n & 0xffff) / 10) + "." + std::to_string((n & 0xffff) % 10);
}

// The DAC (RSA profile) is named "<model>-<serial>", e.g. "Luna K7-521174".
std::string hsm_model(const Pkc& pkc) {
  if (pkc.profile != "rsa") return "";
  std::string cn = name_entry(pkc.chain[1].x509.get(), NID_commonName);
  size_t dash = cn.rfind('-');
  return dash == std::string::npos ? cn : cn.substr(0, dash);
}

std::string key_ouid(const Pkc& pkc) { return name_entry(pkc.chain.front().x509.get(), NID_commonName); }

EVP_PKEY* attested_key(const Pkc& pkc) { return X509_get0_pubkey(pkc.chain.front().x509.get()); }

Bytes attested_key_der(const Pkc& pkc) { return spki_der(X509_get_X509_PUBKEY(pkc.chain.front().x509.get())); }

}  // namespace hsmprov::pkc
