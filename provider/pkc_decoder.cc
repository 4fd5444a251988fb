/* Luna PKC files named by plain path (`openssl x509 -in f.p7b`), read by
 * the first decoder a file meets (decoder.cc): a PKCS#7 SignedData shaped
 * like a PKC, DER or PEM, becomes, after the structure rules the pkc: store
 * applies, the attested public key where a public key is wanted and the
 * leaf certificate elsewhere. Any other input is left alone, so ordinary
 * PKCS#7 files stay the default provider's. A PKC-shaped file that breaks
 * a rule decodes to nothing and the rule's message stays on the error
 * queue. */
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>

#include "attest/luna_pkc.h"
#include "file_bytes.h"
#include "provider.h"

namespace hsmprov {
namespace {

// The object params: `type` and `data` outlive the callback.
int offer(int type, Bytes& data, const char* data_type, const char* structure, OSSL_CALLBACK* data_cb,
          void* data_cbarg) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, data.data(), data.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, const_cast<char*>(data_type), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, const_cast<char*>(structure), 0),
      OSSL_PARAM_construct_end()};
  return data_cb(params, data_cbarg);
}

}  // namespace

std::optional<Bytes> read_der_pkc(BIO* in) {
  long start = BIO_tell(in);
  unsigned char first = 0;
  if (start < 0 || BIO_read(in, &first, 1) != 1 || first != 0x30) {
    if (start >= 0) BIO_seek(in, start);
    return std::nullopt;
  }
  // One DER structure: a PKC is a few kilobytes; more is refused only once
  // the input has shown itself to be PKC-shaped.
  // Until it shows itself a PKC the input is someone else's, and may be
  // secret: a key reference whose URI holds a pin-value, a software private
  // key. What was read of it is wiped (an input of more than one read, 4 KB,
  // leaves what it held in the buffers `der` outgrew).
  Bytes der{first};
  unsigned char buffer[4096];
  int got = 0;
  while (der.size() <= kMaxFileSize && (got = BIO_read(in, buffer, sizeof buffer)) > 0)
    der.insert(der.end(), buffer, buffer + got);
  OPENSSL_cleanse(buffer, sizeof buffer);
  if (!pkc::looks_like_pkc(der.data(), der.size())) {
    wipe(der);
    BIO_seek(in, start);
    return std::nullopt;
  }
  if (der.size() > kMaxFileSize)
    fail(HSMPROV_R_INVALID_ARGUMENT, "a PKC is longer than " + std::to_string(kMaxFileSize) + " bytes");
  return der;
}

int pass_pkc(const Bytes& der, OSSL_CALLBACK* data_cb, void* data_cbarg) {
  pkc::Pkc pkc = pkc::parse(der);
  // The key first: OpenSSL's store takes it only where a public key is
  // wanted (`openssl pkey -pubin`) and declines it where a certificate is,
  // which then gets the leaf. The other way round, the certificate would be
  // taken, and dropped, where a public key is wanted.
  Bytes key = pkc::attested_key_der(pkc);
  ERR_set_mark();
  if (offer(OSSL_OBJECT_PKEY, key, EVP_PKEY_get0_type_name(pkc::attested_key(pkc)), "SubjectPublicKeyInfo", data_cb,
            data_cbarg)) {
    ERR_clear_last_mark();
    return 1;
  }
  ERR_pop_to_mark();
  return offer(OSSL_OBJECT_CERT, pkc.chain.front().der, "CERTIFICATE", "Certificate", data_cb, data_cbarg);
}

}  // namespace hsmprov
