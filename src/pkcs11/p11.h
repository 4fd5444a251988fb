// The one place PKCS#11 definitions come from: p11-kit's header, plus the
// constants it lacks (vendor values, newer mechanisms), each defined once.
#pragma once

#include <p11-kit/pkcs11.h>

#ifndef CKK_EC_EDWARDS
#define CKK_EC_EDWARDS 0x40UL
#endif
#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055UL
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif

// Thales Luna vendor attributes of a private key (see ../shared/DESIGN.md):
// its PKC in the three formats, and its object unique id.
#define CKA_PKC_TCTRUST 0x80000003UL
#define CKA_PKC_CITS 0x80000004UL
#define CKA_OUID 0x80000005UL
#define CKA_PKC_ECC 0x80000007UL

// Key wrapping mechanisms p11-kit 0.24 lacks (PKCS#11 v2.40 / v3.0), and
// Luna's padded AES key wrap.
#ifndef CKM_AES_KEY_WRAP_PAD
#define CKM_AES_KEY_WRAP_PAD 0x210AUL
#endif
#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x210BUL
#endif
#ifndef CKM_RSA_AES_KEY_WRAP
#define CKM_RSA_AES_KEY_WRAP 0x1054UL
#endif
#define CKM_LUNA_AES_KWP 0x80000171UL
typedef struct CK_RSA_AES_KEY_WRAP_PARAMS {
  CK_ULONG ulAESKeyBits;
  CK_RSA_PKCS_OAEP_PARAMS* pOAEPParams;
} CK_RSA_AES_KEY_WRAP_PARAMS;

// PKCS#11 3.2's ML-DSA (FIPS 204): the headers of Debian 12 and 13 predate it.
#ifndef CKK_ML_DSA
#define CKK_ML_DSA 0x4AUL
#endif
#ifndef CKM_ML_DSA_KEY_PAIR_GEN
#define CKM_ML_DSA_KEY_PAIR_GEN 0x1CUL
#endif
#ifndef CKM_ML_DSA
#define CKM_ML_DSA 0x1DUL
#endif
#ifndef CKA_PARAMETER_SET
#define CKA_PARAMETER_SET 0x61DUL
#endif
#ifndef CKP_ML_DSA_44
#define CKP_ML_DSA_44 1UL
#define CKP_ML_DSA_65 2UL
#define CKP_ML_DSA_87 3UL
#endif
#ifndef CKH_HEDGE_PREFERRED
#define CKH_HEDGE_PREFERRED 0UL
#define CKH_HEDGE_REQUIRED 1UL
#define CKH_DETERMINISTIC_REQUIRED 2UL
#endif
// The parameter of CKM_ML_DSA: hedged or deterministic, and the context string.
struct HsmprovSignAdditionalContext {
  CK_ULONG hedgeVariant;
  CK_BYTE_PTR pContext;
  CK_ULONG ulContextLen;
};
