// TLS 1.2 RSA key exchange with a token key: the server's half, decrypting
// the client's premaster secret (RFC 5246, 7.4.7.1), as OpenSSL asks for it
// with its TLS padding mode of RSA decryption.
#pragma once

#include "keys/key.h"

namespace hsmprov {

struct TlsVersions {
  unsigned client = 0;      // ClientHello.client_version, e.g. 0x0303
  unsigned negotiated = 0;  // accepted too when set (SSL_OP_TLS_ROLLBACK_BUG)
};

// Always 48 bytes and never an error for a bad ciphertext: the premaster if
// the token decrypts it (CKM_RSA_PKCS) to 48 bytes that start with the
// client's version, else 48 random bytes, chosen without a branch on which
// (implicit rejection, against Bleichenbacher and Klima-Pokorny-Rosa). The
// handshake then fails at Finished, as with a wrong key. Throws only for
// what the ciphertext does not decide: no client version, a token failure
// before decryption, no random bytes.
Bytes tls_premaster_secret(Key& key, const TlsVersions& versions, const unsigned char* in, size_t size);

}  // namespace hsmprov
