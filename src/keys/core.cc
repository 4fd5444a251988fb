// Core: the module loaded on first use, fork handling, PIN resolution and
// the object search behind the store.
#include "keys/core.h"

#include <algorithm>

#include "error.h"
#include "log.h"

namespace hsmprov {
namespace {

Pin pin_from_source(const std::string& source) {
  if (source.rfind("file:", 0) == 0) return Pin::from_file(source.substr(5));
  if (!source.empty() && source[0] == '/') return Pin::from_file(source);
  fail(HSMPROV_R_PIN, "pin-source must be a file: URI or an absolute path");
}

std::vector<CK_OBJECT_CLASS> classes_wanted(const Uri& uri) {
  if (auto c = uri.object_class()) return {*c};
  return {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
}

}  // namespace

Core::Core(Config config) {
  auto read = std::make_shared<Config>(std::move(config));
  source_ = [read] { return std::move(*read); };  // asked once: a config given is always followed
}

const Software& Core::software() {
  return software_.get([] { return std::make_unique<Software>(); });
}

Core::Loaded& Core::loaded() {
  // From inside the module's own C_Initialize (a module built on OpenSSL
  // loading OpenSSL's config, which names hsmprov) the module must not be
  // entered again: it would initialise itself inside its own initialisation.
  if (Module::initializing_on_this_thread())
    fail(HSMPROV_R_MODULE, "the PKCS#11 module called back into hsmprov from its own C_Initialize");
  const Config& config = this->config();
  return loaded_.get([&config] {
    log::write(1, "loading PKCS#11 module '" + config.module_path + "' (named by " + config.module_origin + ")");
    return std::make_unique<Loaded>(config);
  });
}

void Core::reinitialize_if_forked() {
  Loaded* loaded = loaded_.made();
  if (loaded == nullptr || !loaded->module.forked()) return;  // the common case, without a lock
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (!loaded->module.forked()) return;  // another thread did it meanwhile
  loaded->module.reinitialize_after_fork();
  loaded->directory.rebind("after fork", "; check that this user can read the token (for SoftHSM: its token "
                                          "directory and files)");
  ++generation_;
  loaded->module.fork_handled();  // last: other threads wait on the lock until now
}

// A session opens (and the login holds) on `token`: the module reaches its
// service. False when it fails as a service that is gone does.
bool Core::sessions_open(Token& token) {
  try {
    Session probe = token.session();
    return true;
  } catch (const Pkcs11Error& e) {
    if (!service_lost(e.rv())) throw;
    return false;
  }
}

void Core::recover(Token* token, unsigned generation, const Pkcs11Error& failure) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  Loaded* loaded = loaded_.made();
  if (loaded == nullptr || generation_ != generation) return;  // another thread recovered meanwhile
  log::write(1, std::string(failure.what()) + ": the token service went away or restarted: new sessions, a new "
                                              "login, keys found again");
  loaded->directory.drop_sessions();
  ++generation_;
  if (token != nullptr && !token->lost() && sessions_open(*token)) return;
  try {
    reach_again(*loaded, token);
  } catch (const Pkcs11Error& e) {
    std::string still = std::string(e.what()) == failure.what()
                            ? "; still so after hsmprov initialised the module again"
                            : "; hsmprov initialised the module again and cannot reach the token: " + std::string(e.what());
    throw Pkcs11Error(e.rv(), std::string(failure.what()) + still + "; the next operation tries again");
  }
}

// Sessions cannot be opened: the module is initialised again (a client of a
// network HSM may hold a dead connection until then) and the tokens looked
// for in their slots.
void Core::reach_again(Loaded& loaded, Token* token) {
  loaded.module.reinitialize();
  loaded.directory.rebind("after the module was initialised again",
                          "; a network HSM's service may be down or unreachable");
  ++generation_;
  if (token != nullptr) token->session();
}

bool Core::fork_pending() const {
  const Loaded* loaded = loaded_.made();
  return loaded != nullptr && loaded->module.forked();
}

std::vector<Token*> Core::tokens(const Uri& uri) {
  Loaded& loaded = this->loaded();
  reinitialize_if_forked();
  if (!uri.matches_module(loaded.module.info())) no_module_match(loaded.module);
  std::vector<Token*> matching;
  for (Token* token : loaded.directory.present())
    if (uri.matches_token(token->info()) && uri.matches_slot(token->slot(), [token] { return token->slot_info(); }))
      matching.push_back(token);
  return matching;
}

// A URI whose library-* attributes name another module: that, not the
// token's files, is what is wrong.
void Core::no_module_match(const Module& module) {
  const CK_INFO& info = module.info();
  fail(HSMPROV_R_NOT_FOUND, "the pkcs11: URI's library attributes do not match module '" + module.path() +
                                "' (library-manufacturer=" + trimmed(info.manufacturerID, sizeof info.manufacturerID) +
                                ", library-description=" +
                                trimmed(info.libraryDescription, sizeof info.libraryDescription) +
                                ", library-version=" + std::to_string(info.libraryVersion.major) + "." +
                                std::to_string(info.libraryVersion.minor) + ")");
}

void Core::no_token(const std::string& what) {
  fail(HSMPROV_R_NOT_FOUND, what + "; " + loaded().directory.visibility() +
                                "; if the token exists, check that this user can read it (for SoftHSM: its "
                                "token directory and files)");
}

void Core::log_in(Token& token, const Uri& uri, const PinPrompt& prompt) {
  if (!token.login_required() || token.logged_in()) return;
  if (!uri.pin_value().empty()) return token.authenticate(uri.pin_value().copy());
  if (!uri.pin_source().empty()) return token.authenticate(pin_from_source(uri.pin_source()));
  if (!config().pin.empty()) return token.authenticate(config().pin.copy());
  if (!config().pin_file.empty()) return token.authenticate(Pin::from_file(config().pin_file));
  std::optional<Pin> asked = prompt ? prompt(token.where()) : std::nullopt;
  if (!asked || asked->empty())
    fail(HSMPROV_R_PIN, token.where() + " needs a PIN for private keys: set pkcs11-module-token-pin, add "
                                        "pin-source to the URI, or ask for type=cert or type=public");
  token.authenticate(std::move(*asked));
}

std::vector<Found> Core::find_on(Token& token, const Uri& uri) {
  Session session = token.session();
  return find_usable(*this, token, session, uri.object_attributes(), classes_wanted(uri));
}

std::vector<Found> Core::find(const Uri& uri, const PinPrompt& prompt) {
  return with_recovery(nullptr, Retry::once, [&] { return find_once(uri, prompt); });
}

std::vector<Found> Core::find_once(const Uri& uri, const PinPrompt& prompt) {
  std::vector<Token*> selected = tokens(uri);
  if (selected.empty()) no_token("no token matches the pkcs11: URI");
  auto wanted = classes_wanted(uri);
  bool want_private = std::find(wanted.begin(), wanted.end(), CKO_PRIVATE_KEY) != wanted.end();
  std::vector<Found> found;
  for (Token* token : selected) {
    if (want_private) log_in(*token, uri, prompt);
    for (Found& item : find_on(*token, uri)) found.push_back(std::move(item));
  }
  std::stable_sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    auto rank = [](CK_OBJECT_CLASS c) { return c == CKO_PRIVATE_KEY ? 0 : c == CKO_PUBLIC_KEY ? 1 : 2; };
    return rank(a.object_class) < rank(b.object_class);
  });
  size_t private_keys = std::count_if(found.begin(), found.end(),
                                      [](const Found& f) { return f.object_class == CKO_PRIVATE_KEY; });
  if (uri.names_object() && private_keys > 1)
    fail(HSMPROV_R_AMBIGUOUS, "the pkcs11: URI names one key but matches " + std::to_string(private_keys) +
                                  " private keys: add id= or token= to tell them apart");
  if (found.empty()) {
    std::string tokens_where;
    for (Token* token : selected) tokens_where += (tokens_where.empty() ? "" : ", ") + token->where();
    fail(HSMPROV_R_NOT_FOUND, "no object on " + tokens_where + " matches the pkcs11: URI");
  }
  return found;
}

}  // namespace hsmprov
