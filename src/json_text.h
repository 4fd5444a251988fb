// JSON text output, for the command line's --json and Azure's .byok.
#pragma once

#include <string>

namespace hsmprov {

// `s` as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

}  // namespace hsmprov
