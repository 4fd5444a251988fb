// A quick look at an OpenSSL config file for the key names in one
// provider's section. Loading hsmprov must refuse keys it does not know, and
// OpenSSL gives a provider only the values of keys it asks for by name; so
// the file is read again. With NCONF that was a tenth of the start-up time
// of every OpenSSL program on a stock 12 KB openssl.cnf; this scan costs a
// few percent of it. It reads the plain form only: for anything else
// (.include, .pragma, a variable, a quote or a continued line where it
// matters, an include that is not a file by absolute path) it gives up, and
// the caller reads the file with NCONF.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsmprov {

// The text of a file an .include names; nullopt when it is not a readable file.
using ReadInclude = std::function<std::optional<std::string>(const std::string& path)>;

// The keys of the section that `provider_name` names under the providers
// of `openssl_conf`; empty when the file does not configure it; nullopt
// when the file is not plain enough to tell.
std::optional<std::vector<std::string>> scan_provider_keys(std::string_view text, const std::string& provider_name,
                                                           const ReadInclude& read_include);

}  // namespace hsmprov
