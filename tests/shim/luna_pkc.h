// TEST DOUBLE (part of the test shim): Luna's PKC attributes, built at call
// time from a test chain with the profile of real Luna PKCs.
#pragma once

#include "pkcs11/p11.h"

namespace hsmprov::shim {

bool is_luna_attribute(CK_ATTRIBUTE_TYPE type);
// C_GetAttributeValue for a template that asks for a Luna attribute.
CK_RV luna_attributes(CK_FUNCTION_LIST* target, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                      CK_ATTRIBUTE_PTR attrs, CK_ULONG count);

}  // namespace hsmprov::shim
