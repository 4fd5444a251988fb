// How OpenSSL's signature and decryption parameters map onto PKCS#11
// mechanisms, and the encodings between them (DigestInfo, ECDSA r||s).
#pragma once

#include <string>

#include "handles.h"
#include "pkcs11/p11.h"
#include "keys/public_key.h"

namespace hsmprov {

// CKM_SHA* and CKG_MGF1_SHA* for an OpenSSL digest; throws for others.
CK_MECHANISM_TYPE hash_mechanism(const EVP_MD* md);
CK_RSA_PKCS_MGF_TYPE mgf1_for(const EVP_MD* md);

// DER DigestInfo (RFC 8017, 9.2) around `hash`, the input of CKM_RSA_PKCS.
Bytes digest_info(const EVP_MD* md, const unsigned char* hash, size_t size);

// OpenSSL's PSS salt length (a length or RSA_PSS_SALTLEN_*) for signing.
CK_ULONG pss_salt_length(int saltlen, const EVP_MD* md, const EVP_PKEY* key);

// CKM_ECDSA gives r||s; X.509 and TLS want a DER ECDSA-Sig-Value.
Bytes ecdsa_raw_to_der(const Bytes& raw);

}  // namespace hsmprov
