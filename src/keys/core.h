// The provider's core state: the config, and made only on first use the
// software library context and the PKCS#11 module with its tokens. Loading
// the provider makes no PKCS#11 call, so a program that never touches a
// token key never loads the module. It also recovers from a token service
// that went away (a network HSM's restart, failover or dropped
// connection): see recover().
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
#include "keys/token_objects.h"
#include "lazy.h"
#include "pin.h"
#include "pkcs11/module.h"
#include "pkcs11/token_directory.h"
#include "uri.h"

namespace hsmprov {

// Asks the user for a token's PIN (OpenSSL's passphrase callback); nullopt
// when there is no way to ask.
using PinPrompt = std::function<std::optional<Pin>(const std::string& token_where)>;

// Whether an operation that failed because the token service went away
// is run once more after recovery: only those that change nothing on the
// token (signing, decrypting, reading); one that creates objects may have
// done so before the failure.
enum class Retry { once, never };

class Core {
 public:
  // Reads the config on first use (a provider's, see provider.cc: a section
  // hsmprov cannot follow costs a program that never uses hsmprov nothing).
  using ConfigSource = std::function<Config()>;
  explicit Core(ConfigSource source) : source_(std::move(source)) {}
  explicit Core(Config config);
  // Throws the config's error on every use until it can be followed.
  const Config& config() {
    return config_.get([this] { return std::make_unique<Config>(source_()); });
  }
  // OpenSSL's default provider in a library context of our own.
  const Software& software();
  // Loads and initialises the module now (pkcs11-module-load-behavior = early).
  void load_module() { loaded(); }
  bool module_loaded() const { return loaded_.made() != nullptr; }

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
  // Changes whenever every session and object handle from before is void
  // (fork, recovery): keys find their objects again.
  unsigned generation() const { return generation_; }

  // After `failure`, seen by an operation that began at `generation`:
  // every session is dropped, new ones are opened on `token` (logging in
  // again), and the module is initialised again when they cannot be (or
  // when no token is named). Keys find their objects again, by identity,
  // on their next use. Several threads that failed at once recover once:
  // the later ones find it done. Throws, naming the token and both
  // failures, when the token cannot be reached; the next operation tries
  // again (there is no loop).
  void recover(Token* token, unsigned generation, const Pkcs11Error& failure);
  // Runs `operation`; when the token service went away meanwhile, recovers
  // and runs it once more (Retry::once) or throws the failure (Retry::never).
  template <typename Operation>
  auto with_recovery(Token* token, Retry retry, Operation&& operation) -> decltype(operation());

 private:
  [[noreturn]] static void no_module_match(const Module& module);
  struct Loaded {
    Loaded(const Config& config) : module(config.module_path, config.init_args, config.module_origin) {}
    Module module;
    TokenDirectory directory{module};
  };
  Loaded& loaded();
  std::vector<Found> find_once(const Uri& uri, const PinPrompt& prompt);
  std::vector<Found> find_on(Token& token, const Uri& uri);
  bool sessions_open(Token& token);
  void reach_again(Loaded& loaded, Token* token);

  ConfigSource source_;
  Lazy<Config> config_;
  Lazy<Software> software_;
  Lazy<Loaded> loaded_;
  std::mutex state_mutex_;  // one fork re-initialisation or recovery at a time
  std::atomic<unsigned> generation_{0};
};

template <typename Operation>
auto Core::with_recovery(Token* token, Retry retry, Operation&& operation) -> decltype(operation()) {
  QuietSigpipe quiet;  // one for all the operation's calls
  reinitialize_if_forked();  // first: a fork's new generation is not a recovery's
  unsigned seen = generation();
  try {
    return operation();
  } catch (const Pkcs11Error& failure) {
    if (!service_lost(failure.rv())) throw;
    recover(token, seen, failure);
    if (retry == Retry::never)
      throw Pkcs11Error(failure.rv(), std::string(failure.what()) +
                                          "; the token service went away and hsmprov reached it again, but does not "
                                          "repeat an operation that may have changed the token: run it again");
  }
  return operation();
}

}  // namespace hsmprov
