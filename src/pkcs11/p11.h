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
