// The provider's core state: the config, and made only on first use the
// software library context and the PKCS#11 module with its tokens. Loading
// the provider makes no PKCS#11 call, so a program that never touches a
// token key never loads the module.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "config.h"
#include "keys/key.h"
#include "keys/software.h"
#include "lazy.h"
#include "pin.h"
#include "pkcs11/module.h"
#include "pkcs11/token_directory.h"
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
  explicit Core(Config config) : config_(std::move(config)) {}
  const Config& config() const { return config_; }
  // OpenSSL's default provider in a library context of our own.
  const Software& software();
  // Loads and initialises the module now (pkcs11-module-load-behavior = early).
  void load_module() { loaded(); }

  // Objects the URI selects, private keys first, then public keys, then
  // certificates. Logs in when private keys are wanted.
  std::vector<Found> find(const Uri& uri, const PinPrompt& prompt);
  // Present tokens the URI selects; throws when its library-* attributes
  // do not match the module.
  std::vector<Token*> tokens(const Uri& uri);
  // Throws `what` ("... no token matches ...") with what the module shows
  // this process, so a user can tell a wrong URI from an unreadable token.
  [[noreturn]] void no_token(const std::string& what);
  // Logs the token in with the PIN the URI, the config or the prompt gives.
  void log_in(Token& token, const Uri& uri, const PinPrompt& prompt);

  // PKCS#11 handles are void in a forked child: start again there.
  void reinitialize_if_forked();
  // Forked, and the module not yet started again: handles are the parent's.
  bool fork_pending() const;
  unsigned generation() const { return generation_; }

 private:
  [[noreturn]] static void no_module_match(const Module& module);
  struct Loaded {
    Loaded(const Config& config) : module(config.module_path, config.init_args) {}
    Module module;
    TokenDirectory directory{module};
  };
  Loaded& loaded();
  std::vector<Found> find_on(Token& token, const Uri& uri);

  Config config_;
  Lazy<Software> software_;
  Lazy<Loaded> loaded_;
  std::mutex fork_mutex_;
  std::atomic<unsigned> generation_{0};
};

}  // namespace hsmprov
