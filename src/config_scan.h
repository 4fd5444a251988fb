// A quick look at an OpenSSL config file for the entries of one provider's
// section. Loading hsmprov must refuse keys it does not know, and
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
#include <utility>
#include <vector>

namespace hsmprov {

// The text of a file an .include names; nullopt when it is not a readable file.
using ReadInclude = std::function<std::optional<std::string>(const std::string& path)>;

// Key and value, in the order of the file (a later one for the same key wins).
using ScannedSection = std::vector<std::pair<std::string, std::string>>;

// The entries of the section that `provider_name` names under the
// providers of `openssl_conf`; empty when the file does not configure it;
// nullopt when the file is not plain enough to tell.
std::optional<ScannedSection> scan_provider_section(std::string_view text, const std::string& provider_name,
                                                    const ReadInclude& read_include);

}  // namespace hsmprov
