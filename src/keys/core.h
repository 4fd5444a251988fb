// The provider's core state: config, the PKCS#11 module, its tokens, the
// software library context, and finding objects by pkcs11: URI.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "config.h"
#include "keys/key.h"
#include "pin.h"
#include "pkcs11/module.h"
#include "pkcs11/token.h"
#include "keys/software.h"
#include "uri.h"

namespace hsmprov {

// Asks the user for a token's PIN (OpenSSL's passphrase callback); nullopt
// when there is no way to ask.
using PinPrompt = std::function<std::optional<Pin>(const std::string& token_where)>;

struct Found {
  CK_OBJECT_CLASS object_class;
  std::shared_ptr<Key> key;  // private and public keys
  Bytes certificate;         // DER, for certificates
  std::string label;
};

class Core {
 public:
  explicit Core(Config config);
  const Config& config() const { return config_; }
  const Software& software() const { return software_; }

  // Objects the URI selects, private keys first, then public keys, then
  // certificates. Logs in when private keys are wanted.
  std::vector<Found> find(const Uri& uri, const PinPrompt& prompt);
  // Present tokens the URI selects.
  std::vector<Token*> tokens(const Uri& uri);
  // Logs the token in with the PIN the URI, the config or the prompt gives.
  void log_in(Token& token, const Uri& uri, const PinPrompt& prompt);

  // PKCS#11 handles are void in a forked child: start again there.
  void reinitialize_if_forked();
  unsigned generation() const;

 private:
  std::vector<Found> find_on(Token& token, const Uri& uri);

  Config config_;
  Software software_;
  std::unique_ptr<Module> module_;
  std::mutex mutex_;
  std::map<CK_SLOT_ID, std::unique_ptr<Token>> tokens_;
  std::atomic<unsigned> generation_{0};
};

}  // namespace hsmprov
