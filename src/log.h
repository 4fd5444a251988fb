// Debug log switched on at run time: HSMPROV_DEBUG=level:N[,file:PATH].
// Level 1 = errors and token events, 2 = every PKCS#11 call. PINs are never
// passed to it; callers log object names and CKR codes only.
#pragma once

#include <string>

namespace hsmprov::log {

int level();
void write(int at_level, const std::string& message);

}  // namespace hsmprov::log
