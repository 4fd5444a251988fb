/* hsmprov public names: parameters, properties and error reasons that
 * applications may use with the hsmprov OpenSSL provider. */
#ifndef HSMPROV_HSMPROV_H
#define HSMPROV_HSMPROV_H

#define HSMPROV_NAME "hsmprov"

/* Key generation parameter (genpkey -pkeyopt pkcs11_uri:...): where the new
 * key pair is made; the URI names the token and the object label (and may
 * give an id). */
#define HSMPROV_PARAM_PKCS11_URI "pkcs11_uri"

/* Key wrapping for cloud KMS import (pkeyutl -encrypt -pkeyopt NAME:VALUE):
 * the pkcs11: URI of the key to wrap, the algorithm (AWS or Google name),
 * the output format ("raw" or "azure-byok"), Azure's key id for .byok, and
 * "yes" to allow the retired RSAES_PKCS1_V1_5. */
#define HSMPROV_PARAM_WRAP_TARGET "hsmprov-wrap-target"
#define HSMPROV_PARAM_WRAP_ALGORITHM "hsmprov-wrap-algorithm"
#define HSMPROV_PARAM_WRAP_FORMAT "hsmprov-wrap-format"
#define HSMPROV_PARAM_AZURE_KID "hsmprov-azure-kid"
#define HSMPROV_PARAM_WRAP_LEGACY "hsmprov-wrap-legacy"

/* PEM label of the reference a token key is written as (never key material). */
#define HSMPROV_PEM_KEY_REFERENCE "HSMPROV KEY REFERENCE"

/* Reasons on the OpenSSL error queue, library "hsmprov". */
enum hsmprov_reason {
    HSMPROV_R_CONFIG = 1,          /* bad or unknown provider config key */
    HSMPROV_R_MODULE = 2,          /* the PKCS#11 module cannot be loaded */
    HSMPROV_R_PKCS11 = 3,          /* a C_* call failed; message names CKR */
    HSMPROV_R_URI = 4,             /* malformed pkcs11: URI */
    HSMPROV_R_NOT_FOUND = 5,       /* URI matches no token or object */
    HSMPROV_R_AMBIGUOUS = 6,       /* URI matches more than one key */
    HSMPROV_R_PIN = 7,             /* no PIN available / PIN source unreadable */
    HSMPROV_R_UNSUPPORTED = 8,     /* algorithm, mechanism or parameter */
    HSMPROV_R_KEY_IN_TOKEN = 9,    /* private key material cannot leave */
    HSMPROV_R_INVALID_ARGUMENT = 10,
    HSMPROV_R_INTERNAL = 11,
    HSMPROV_R_EXISTS = 12,         /* key generation: label already used */
    HSMPROV_R_LIBRARY = 13         /* p11-kit's library, loaded on first use, cannot be loaded */
};

#endif
