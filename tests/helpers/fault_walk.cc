// Test program: one operation through the provider (from OPENSSL_CONF, its
// module the test shim) with the Nth PKCS#11 call it makes failed by the
// shim, then the same operation again, unfaulted, in the same process.
// Prints one line:
//   calls=C failed=C_Name|- result=ok|error recovered=yes|no objects=O sessions=S named=yes|no
// calls: the PKCS#11 calls the first run made; failed: the call the shim
// failed (- if the run made fewer than N); named: whether the error the
// first run left on OpenSSL's queue names that call (yes when it succeeded);
// objects: the session objects on the token after the second run (key
// copies, ephemeral wrap keys), and sessions: the sessions open then.
// Usage: hsmprov_fault_walk SHIM OPERATION N CKR_NAME TOKEN_LABEL URI [TARGET_URI]
//   OPERATION: load | sign | decrypt | tls-decrypt | genpkey | wrap | fork
//   N = 0 fails nothing (the count of calls for a walk).
// Exits 0 when it ran (the test judges the line), 2 on bad usage.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "helpers/key_by_uri.h"
#include "helpers/queued_errors.h"
#include "pkcs11/ckr_names.h"
#include "pkcs11/p11.h"

namespace {

struct Shim {
  void (*fail_call)(unsigned long, CK_RV);
  const char* (*failed_function)();
  unsigned long (*calls)();
  unsigned long (*open_sessions)();
  CK_FUNCTION_LIST* p11;
};

Shim open_shim(const char* path) {
  void* library = dlopen(path, RTLD_NOW);
  if (library == nullptr) {
    std::fprintf(stderr, "cannot load the shim %s: %s\n", path, dlerror());
    std::exit(2);
  }
  Shim shim{};
  shim.fail_call = reinterpret_cast<void (*)(unsigned long, CK_RV)>(dlsym(library, "hsmprov_shim_fail_call"));
  shim.failed_function = reinterpret_cast<const char* (*)()>(dlsym(library, "hsmprov_shim_failed_function"));
  shim.calls = reinterpret_cast<unsigned long (*)()>(dlsym(library, "hsmprov_shim_calls"));
  shim.open_sessions = reinterpret_cast<unsigned long (*)()>(dlsym(library, "hsmprov_shim_open_sessions"));
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(library, "C_GetFunctionList"));
  if (!shim.fail_call || !shim.failed_function || !shim.calls || !shim.open_sessions || !get_list ||
      get_list(&shim.p11) != CKR_OK) {
    std::fprintf(stderr, "%s is not the test shim\n", path);
    std::exit(2);
  }
  return shim;
}

CK_RV rv_named(const char* name) {
  for (CK_RV rv = 0; rv < 0x200; ++rv)
    if (hsmprov::ckr_name(rv) == name) return rv;
  std::fprintf(stderr, "unknown CKR %s\n", name);
  std::exit(2);
}

// Objects matching `template_` on the token labelled `label`, seen from a
// session of this process (so its session objects too), or -1.
long count_objects(const Shim& shim, const std::string& label, CK_ATTRIBUTE* template_, CK_ULONG count) {
  CK_SLOT_ID slots[16];
  CK_ULONG slot_count = 16;
  if (shim.p11->C_GetSlotList(CK_TRUE, slots, &slot_count) != CKR_OK) return -1;
  for (CK_ULONG i = 0; i < slot_count; ++i) {
    CK_TOKEN_INFO info;
    if (shim.p11->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    std::string name(reinterpret_cast<char*>(info.label), sizeof info.label);
    if (name.substr(0, name.find_last_not_of(' ') + 1) != label) continue;
    CK_SESSION_HANDLE session;
    if (shim.p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION, nullptr, nullptr, &session) != CKR_OK) return -1;
    long found = 0;
    CK_OBJECT_HANDLE objects[64];
    CK_ULONG got = 0;
    if (shim.p11->C_FindObjectsInit(session, template_, count) == CKR_OK) {
      while (shim.p11->C_FindObjects(session, objects, 64, &got) == CKR_OK && got > 0) found += static_cast<long>(got);
      shim.p11->C_FindObjectsFinal(session);
    }
    shim.p11->C_CloseSession(session);
    return found;
  }
  return -1;
}

long session_objects(const Shim& shim, const std::string& label) {
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE session_only[] = {{CKA_TOKEN, &no, sizeof no}};
  return count_objects(shim, label, session_only, 1);
}

long objects_labelled(const Shim& shim, const std::string& token, const std::string& label) {
  CK_ATTRIBUTE by_label[] = {{CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
  return count_objects(shim, token, by_label, 1);
}

// A KMS's wrapping key: public only (a key pair would not reach hsmprov,
// whose key manager takes no private key material).
EVP_PKEY* kms_wrapping_key() {
  EVP_PKEY* pair = EVP_PKEY_Q_keygen(nullptr, "provider=default", "RSA", static_cast<size_t>(2048));
  EVP_PKEY* pub = pair ? software_public_key(pair) : nullptr;
  EVP_PKEY_free(pair);
  return pub;
}

// `secret` encrypted with PKCS#1 v1.5 padding by OpenSSL's default provider.
std::vector<unsigned char> encrypted(EVP_PKEY* pub, const unsigned char* secret, size_t size) {
  std::vector<unsigned char> wrapped(512);
  size_t wrapped_size = wrapped.size();
  EVP_PKEY_CTX* enc = EVP_PKEY_CTX_new_from_pkey(nullptr, pub, "provider=default");
  bool ok = enc && EVP_PKEY_encrypt_init(enc) == 1 && EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_encrypt(enc, wrapped.data(), &wrapped_size, secret, size) == 1;
  EVP_PKEY_CTX_free(enc);
  wrapped.resize(ok ? wrapped_size : 0);
  return wrapped;
}

// Decrypts `wrapped` with the token key in `padding` (and `params`): true
// only when `secret` comes back.
bool decrypts_to(EVP_PKEY* key, int padding, const OSSL_PARAM* params, const std::vector<unsigned char>& wrapped,
                 const unsigned char* secret, size_t size) {
  unsigned char plain[512];
  size_t plain_size = sizeof plain;
  EVP_PKEY_CTX* dec = wrapped.empty() ? nullptr : EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  bool ok = dec && EVP_PKEY_decrypt_init(dec) == 1 && EVP_PKEY_CTX_set_rsa_padding(dec, padding) == 1 &&
            (params == nullptr || EVP_PKEY_CTX_set_params(dec, params) == 1) &&
            EVP_PKEY_decrypt(dec, plain, &plain_size, wrapped.data(), wrapped.size()) == 1 && plain_size == size &&
            std::memcmp(plain, secret, size) == 0;
  EVP_PKEY_CTX_free(dec);
  return ok;
}

bool decrypt(EVP_PKEY* key, EVP_PKEY* pub) {
  const unsigned char secret[] = "premaster of 48 bytes, more or less, for a test";
  return decrypts_to(key, RSA_PKCS1_PADDING, nullptr, encrypted(pub, secret, sizeof secret), secret, sizeof secret);
}

// TLS 1.2 RSA key exchange as libssl asks for it: true only when the
// premaster sent comes back (implicit rejection answers a failure with
// random bytes and success, so success alone proves nothing).
bool tls_decrypt(EVP_PKEY* key, EVP_PKEY* pub) {
  unsigned char secret[48] = {0x03, 0x03};
  for (size_t i = 2; i < sizeof secret; ++i) secret[i] = static_cast<unsigned char>(i);
  unsigned int client_version = 0x0303;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &client_version),
                         OSSL_PARAM_construct_end()};
  return decrypts_to(key, RSA_PKCS1_WITH_TLS_PADDING, params, encrypted(pub, secret, sizeof secret), secret,
                     sizeof secret);
}

bool generate(const std::string& uri) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", "provider=hsmprov");
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("pkcs11_uri", const_cast<char*>(uri.c_str()), 0),
                         OSSL_PARAM_construct_utf8_string("group", const_cast<char*>("P-256"), 0),
                         OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_params(ctx, params) == 1 &&
            EVP_PKEY_generate(ctx, &key) == 1;
  EVP_PKEY_free(key);
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

bool wrap(EVP_PKEY* kms_key, const std::string& target) {
  unsigned char out[1024];
  size_t size = sizeof out;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, kms_key, "provider=hsmprov");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("hsmprov-wrap-target", const_cast<char*>(target.c_str()), 0),
      OSSL_PARAM_construct_utf8_string("hsmprov-wrap-algorithm", const_cast<char*>("RSA_AES_KEY_WRAP_SHA_1"), 0),
      OSSL_PARAM_construct_end()};
  const unsigned char nothing = 0;  // the target comes from the token, not from the input
  bool ok = ctx && EVP_PKEY_encrypt_init_ex(ctx, params) == 1 && EVP_PKEY_encrypt(ctx, out, &size, &nothing, 0) == 1;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

struct Outcome {
  unsigned long calls = 0;
  std::string failed;
  bool ok = false;
  bool named = false;
  bool recovered = false;
};

// Runs `operation` with the Nth call failed, then again unfaulted.
Outcome walk(const Shim& shim, unsigned long n, CK_RV rv, const std::function<bool()>& operation) {
  Outcome outcome;
  ERR_clear_error();
  unsigned long before = shim.calls();
  shim.fail_call(n, rv);
  outcome.ok = operation();
  outcome.calls = shim.calls() - before;
  outcome.failed = shim.failed_function();
  shim.fail_call(0, CKR_OK);
  std::string errors = queued_errors();
  outcome.named = outcome.ok || (!outcome.failed.empty() && errors.find(outcome.failed) != std::string::npos);
  if (!outcome.named) std::fprintf(stderr, "the error does not name %s:\n%s", outcome.failed.c_str(), errors.c_str());
  ERR_clear_error();
  outcome.recovered = operation();
  if (!outcome.recovered) std::fprintf(stderr, "the operation after the fault failed:\n%s", queued_errors().c_str());
  return outcome;
}

void report(const Outcome& o, long objects, unsigned long sessions) {
  std::printf("calls=%lu failed=%s result=%s recovered=%s objects=%ld sessions=%lu named=%s\n", o.calls,
              o.failed.empty() ? "-" : o.failed.c_str(), o.ok ? "ok" : "error", o.recovered ? "yes" : "no", objects,
              sessions, o.named ? "yes" : "no");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s SHIM OPERATION N CKR_NAME TOKEN_LABEL URI [TARGET_URI]\n", argv[0]);
    return 2;
  }
  Shim shim = open_shim(argv[1]);
  std::string operation = argv[2], token = argv[5], uri = argv[6], target = argc > 7 ? argv[7] : "";
  unsigned long n = std::strtoul(argv[3], nullptr, 10);
  CK_RV rv = rv_named(argv[4]);

  std::function<bool()> run;
  EVP_PKEY* key = nullptr;
  EVP_PKEY* pub = nullptr;
  int generated = 0;
  std::vector<std::string> failed_labels;  // of genpkey runs that failed: nothing may be left under them
  if (operation == "load") {
    run = [&] {
      EVP_PKEY_free(key);
      key = load_private_key(uri.c_str());
      return key != nullptr;
    };
  } else if (operation == "genpkey") {
    run = [&] {
      std::string label = "walk-" + std::to_string(getpid()) + "-" + std::to_string(++generated);
      bool ok = generate(uri + ";object=" + label);
      if (!ok) failed_labels.push_back(label);
      return ok;
    };
  } else if (operation == "wrap") {
    pub = kms_wrapping_key();
    run = [&] { return wrap(pub, target); };
  } else {
    // sign, decrypt, fork: the key loaded and used once before the walk,
    // as a server has it.
    key = load_private_key(uri.c_str());
    pub = key ? software_public_key(key) : nullptr;
    if (pub == nullptr) {
      std::fprintf(stderr, "cannot load %s\n", uri.c_str());
      return 1;
    }
    if (operation == "decrypt")
      run = [&] { return decrypt(key, pub); };
    else if (operation == "tls-decrypt")
      run = [&] { return tls_decrypt(key, pub); };
    else
      run = [&] { return signs_once(key); };
    if (!run()) {
      std::fprintf(stderr, "the unfaulted %s failed:\n%s", operation.c_str(), queued_errors().c_str());
      return 1;
    }
  }
  if (!run) {
    std::fprintf(stderr, "unknown operation %s\n", operation.c_str());
    return 2;
  }

  if (operation == "fork") {  // the walk in a child: its first operation initialises the module again
    std::fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
      Outcome outcome = walk(shim, n, rv, run);
      report(outcome, session_objects(shim, token), shim.open_sessions());
      std::_Exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status)) std::printf("child died: status %d\n", status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  Outcome outcome = walk(shim, n, rv, run);
  report(outcome, session_objects(shim, token), shim.open_sessions());
  for (const std::string& label : failed_labels) {  // checked now that the module works again
    long left = objects_labelled(shim, token, label);
    if (left != 0) std::printf("a failed genpkey left %ld objects labelled %s\n", left, label.c_str());
  }
  EVP_PKEY_free(key);
  EVP_PKEY_free(pub);
  return 0;
}
