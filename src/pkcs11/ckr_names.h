// Names of PKCS#11 return values, for error messages a user can search for.
#pragma once

#include <string>

#include "pkcs11/p11.h"

namespace hsmprov {

std::string ckr_name(CK_RV rv);

}  // namespace hsmprov
