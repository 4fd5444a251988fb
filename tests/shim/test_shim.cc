// TEST DOUBLE: a PKCS#11 module for the tests only. It forwards every call
// to a real module (SoftHSM; HSMPROV_SHIM_TARGET names it) and adds what no
// soft token has:
// - faults on demand: each line "C_Name CKR_NAME" of the file
//   HSMPROV_SHIM_FAULTS makes that function fail with that code while the
//   line is there (e.g. "C_Sign CKR_DEVICE_REMOVED");
// - one fault by position: every call of a function hsmprov uses is
//   counted, and the Nth can be made to fail, armed by a program through
//   hsmprov_shim_fail_call() or at load by HSMPROV_SHIM_FAIL_CALL="N CKR_NAME";
//   HSMPROV_SHIM_TRACE names a file that gets each call's name, one a line;
// - sessions closed under the caller: with HSMPROV_SHIM_CLOSE_EVERY=N, one
//   C_Sign in N, at random, first closes its session for real (as a device
//   reset or an idle timeout does) and so fails with CKR_SESSION_HANDLE_INVALID;
// - Luna's PKC attributes (luna_pkc.cc): CKA_PKC_CITS/TCTRUST/ECC and
//   CKA_OUID of private keys generated on the token as never-extractable,
//   built from the test chain in HSMPROV_SHIM_PKC_DIR;
// - a watch on stale sessions: closing a session, or destroying an object
//   through one, that was opened before the last C_Initialize (a parent's,
//   in a forked child) is refused and written to HSMPROV_SHIM_MISUSE;
// - a token that fails a whole C_GetAttributeValue: with
//   HSMPROV_SHIM_WHOLE_CALL_FAILS set, a call for several attributes of
//   which one is missing or sensitive answers that code and fills none,
//   marking none unavailable (the standard says to fill the others);
// - SoftHSM 2.6's half-made copies, at leisure: with
//   HSMPROV_SHIM_HALF_MADE_COPY_MS=N, C_CopyObject makes the copy, then for N
//   ms shows it as SoftHSM shows a copy it has not finished: found by
//   searches for token objects (its CKA_TOKEN still the original's) and read
//   with an empty CKA_EC_PARAMS (the default SoftHSM fills in);
// - a module built on OpenSSL: with HSMPROV_SHIM_CONFIG_ON_INIT naming an
//   OpenSSL config file, C_Initialize first loads it into a library context
//   of its own, as SoftHSM loads OpenSSL's config inside its C_Initialize,
//   and appends to HSMPROV_SHIM_CONFIG_RESULT whether hsmprov came up there.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "pkcs11/ckr_names.h"
#include "shim/luna_pkc.h"

namespace {

CK_FUNCTION_LIST* target = nullptr;
CK_FUNCTION_LIST shim;

std::mutex sessions_mutex;
std::set<CK_SESSION_HANDLE> live_sessions;  // opened since the last C_Initialize

std::set<CK_SESSION_HANDLE> closed_under_caller;  // by HSMPROV_SHIM_CLOSE_EVERY: invalid, but no misuse

// True for a session of this initialisation; else notes the misuse.
bool live(CK_SESSION_HANDLE h, const char* function) {
  std::lock_guard<std::mutex> lock(sessions_mutex);
  if (live_sessions.count(h)) return true;
  if (closed_under_caller.erase(h)) return false;
  if (const char* path = std::getenv("HSMPROV_SHIM_MISUSE"))
    std::ofstream(path, std::ios::app) << function << " on session " << h << ", opened before C_Initialize\n";
  return false;
}

CK_RV rv_named(const std::string& code) {
  for (CK_RV rv = 0; rv < 0x200; ++rv)
    if (hsmprov::ckr_name(rv) == code) return rv;
  return CKR_GENERAL_ERROR;
}

// The code the fault file sets for `function`, or CKR_OK.
CK_RV from_fault_file(const char* function) {
  const char* path = std::getenv("HSMPROV_SHIM_FAULTS");
  if (path == nullptr) return CKR_OK;
  std::ifstream faults(path);
  std::string line;
  while (std::getline(faults, line)) {
    std::istringstream words(line);
    std::string name, code;
    if ((words >> name >> code) && name == function) return rv_named(code);
  }
  return CKR_OK;
}

// The call counter and the one armed fault.
std::mutex calls_mutex;
unsigned long calls = 0;
unsigned long fail_at = 0;  // 0: none armed
CK_RV fail_with = CKR_OK;
std::string failed_function;

void arm_from_environment() {
  const char* spec = std::getenv("HSMPROV_SHIM_FAIL_CALL");
  if (spec == nullptr) return;
  std::istringstream words(spec);
  std::string code;
  if (words >> fail_at >> code) fail_with = rv_named(code);
}

// Counts the call; the code it must fail with, or CKR_OK.
CK_RV injected(const char* function) {
  {
    std::lock_guard<std::mutex> lock(calls_mutex);
    ++calls;
    if (const char* trace = std::getenv("HSMPROV_SHIM_TRACE")) std::ofstream(trace, std::ios::app) << function << "\n";
    if (fail_at != 0 && calls == fail_at) {
      failed_function = function;
      return fail_with;
    }
  }
  return from_fault_file(function);
}

#define SHIM_FORWARD(name, params, args)      \
  CK_RV shim_##name params {                  \
    CK_RV rv = injected(#name);               \
    if (rv != CKR_OK) return rv;              \
    return target->name args;                 \
  }

// Loads HSMPROV_SHIM_CONFIG_ON_INIT, if set, into a library context of its
// own; once per thread at a time (a provider that calls C_Initialize again
// from there would otherwise come back here without end).
void load_config_as_module_built_on_openssl() {
  static thread_local bool loading = false;
  const char* config = std::getenv("HSMPROV_SHIM_CONFIG_ON_INIT");
  if (config == nullptr || loading) return;
  loading = true;
  OSSL_LIB_CTX* libctx = OSSL_LIB_CTX_new();
  // OpenSSL 3.0 loads a config whose provider fails to start: ask for it.
  bool up = libctx != nullptr && OSSL_LIB_CTX_load_config(libctx, config) == 1 &&
            OSSL_PROVIDER_available(libctx, "hsmprov") == 1;
  OSSL_LIB_CTX_free(libctx);
  loading = false;
  if (const char* result = std::getenv("HSMPROV_SHIM_CONFIG_RESULT"))
    std::ofstream(result, std::ios::app) << (up ? "hsmprov is up" : "hsmprov is not up") << "\n";
}

CK_RV shim_C_Initialize(CK_VOID_PTR args) {
  CK_RV rv = injected("C_Initialize");
  if (rv != CKR_OK) return rv;
  load_config_as_module_built_on_openssl();
  rv = target->C_Initialize(args);
  std::lock_guard<std::mutex> lock(sessions_mutex);
  if (rv == CKR_OK) {
    live_sessions.clear();
    closed_under_caller.clear();
  }
  return rv;
}

CK_RV shim_C_OpenSession(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n, CK_SESSION_HANDLE_PTR h) {
  CK_RV rv = injected("C_OpenSession");
  if (rv == CKR_OK) rv = target->C_OpenSession(s, f, a, n, h);
  std::lock_guard<std::mutex> lock(sessions_mutex);
  if (rv == CKR_OK) live_sessions.insert(*h);
  return rv;
}

CK_RV shim_C_CloseSession(CK_SESSION_HANDLE h) {
  if (CK_RV rv = injected("C_CloseSession"); rv != CKR_OK) return rv;
  if (!live(h, "C_CloseSession")) return CKR_SESSION_HANDLE_INVALID;
  {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    live_sessions.erase(h);
  }
  return target->C_CloseSession(h);
}

CK_RV shim_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object) {
  if (CK_RV rv = injected("C_DestroyObject"); rv != CKR_OK) return rv;
  if (!live(h, "C_DestroyObject")) return CKR_SESSION_HANDLE_INVALID;
  return target->C_DestroyObject(h, object);
}
SHIM_FORWARD(C_Login, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG l), (h, u, p, l))
SHIM_FORWARD(C_SignInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
// One signature in N, at random (HSMPROV_SHIM_CLOSE_EVERY=N), finds its
// session closed.
bool close_this_sign() {
  static const unsigned long every = [] {
    const char* n = std::getenv("HSMPROV_SHIM_CLOSE_EVERY");
    return n ? std::strtoul(n, nullptr, 10) : 0UL;
  }();
  if (every == 0) return false;
  thread_local std::minstd_rand random(static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  return random() % every == 0;
}

CK_RV shim_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG_PTR sl) {
  if (CK_RV rv = injected("C_Sign"); rv != CKR_OK) return rv;
  if (s != nullptr && close_this_sign()) {
    shim_C_CloseSession(h);
    std::lock_guard<std::mutex> lock(sessions_mutex);
    closed_under_caller.insert(h);
    return CKR_SESSION_HANDLE_INVALID;
  }
  return target->C_Sign(h, d, l, s, sl);
}
SHIM_FORWARD(C_DecryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
SHIM_FORWARD(C_Decrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol),
             (h, d, l, o, ol))
// The copy HSMPROV_SHIM_HALF_MADE_COPY_MS shows as not finished, and the
// searches for token objects under way (session: shown it yet).
std::atomic<CK_OBJECT_HANDLE> half_made{CK_INVALID_HANDLE};
std::mutex searches_mutex;
std::map<CK_SESSION_HANDLE, bool> token_searches;

CK_RV shim_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
  if (CK_RV rv = injected("C_FindObjectsInit"); rv != CKR_OK) return rv;
  CK_RV rv = target->C_FindObjectsInit(h, t, n);
  bool on_token = std::any_of(t, t + n, [](const CK_ATTRIBUTE& a) {
    return a.type == CKA_TOKEN && a.ulValueLen == 1 && *static_cast<CK_BBOOL*>(a.pValue) == CK_TRUE;
  });
  std::lock_guard<std::mutex> lock(searches_mutex);
  if (rv == CKR_OK && on_token) token_searches[h] = false;
  return rv;
}

CK_RV shim_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n) {
  if (CK_RV rv = injected("C_FindObjects"); rv != CKR_OK) return rv;
  CK_RV rv = target->C_FindObjects(h, o, m, n);
  CK_OBJECT_HANDLE copy = half_made.load();
  std::lock_guard<std::mutex> lock(searches_mutex);
  auto search = token_searches.find(h);
  if (rv == CKR_OK && copy != CK_INVALID_HANDLE && search != token_searches.end() && !search->second && *n < m) {
    o[(*n)++] = copy;
    search->second = true;
  }
  return rv;
}

CK_RV shim_C_FindObjectsFinal(CK_SESSION_HANDLE h) {
  if (CK_RV rv = injected("C_FindObjectsFinal"); rv != CKR_OK) return rv;
  {
    std::lock_guard<std::mutex> lock(searches_mutex);
    token_searches.erase(h);
  }
  return target->C_FindObjectsFinal(h);
}

CK_RV shim_C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                        CK_OBJECT_HANDLE_PTR c) {
  if (CK_RV rv = injected("C_CopyObject"); rv != CKR_OK) return rv;
  CK_RV rv = target->C_CopyObject(h, o, t, n, c);
  const char* ms = std::getenv("HSMPROV_SHIM_HALF_MADE_COPY_MS");
  if (rv != CKR_OK || ms == nullptr) return rv;
  half_made = *c;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoul(ms, nullptr, 10)));
  half_made = CK_INVALID_HANDLE;
  return rv;
}

// What SoftHSM answers for a copy it has not finished.
void as_half_made(CK_ATTRIBUTE_PTR attrs, CK_ULONG count) {
  for (CK_ULONG i = 0; i < count; ++i) {
    if (attrs[i].type == CKA_EC_PARAMS) attrs[i].ulValueLen = 0;
    if (attrs[i].type == CKA_TOKEN && attrs[i].pValue != nullptr) *static_cast<CK_BBOOL*>(attrs[i].pValue) = CK_TRUE;
  }
}
SHIM_FORWARD(C_GenerateKeyPair,
             (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR qt,
              CK_ULONG qn, CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR qk),
             (h, m, pt, pn, qt, qn, pk, qk))

SHIM_FORWARD(C_Finalize, (CK_VOID_PTR r), (r))
SHIM_FORWARD(C_GetInfo, (CK_INFO_PTR i), (i))
SHIM_FORWARD(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), (p, l, n))
SHIM_FORWARD(C_GetSlotInfo, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), (s, i))
SHIM_FORWARD(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i))
SHIM_FORWARD(C_GetMechanismList, (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n), (s, l, n))
SHIM_FORWARD(C_CreateObject, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o),
             (h, t, n, o))
SHIM_FORWARD(C_GenerateKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                             CK_OBJECT_HANDLE_PTR k), (h, m, t, n, k))
SHIM_FORWARD(C_WrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE k,
                         CK_BYTE_PTR o, CK_ULONG_PTR n), (h, m, w, k, o, n))

// As a token that fails the whole call: the entries as they came.
CK_RV whole_call_failed(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR attrs, CK_ULONG count) {
  std::vector<CK_ATTRIBUTE> asked(attrs, attrs + count);
  CK_RV rv = target->C_GetAttributeValue(h, object, attrs, count);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE) std::copy(asked.begin(), asked.end(), attrs);
  return rv;
}

// Luna attributes are answered here; the rest goes to the target module.
CK_RV shim_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR attrs, CK_ULONG count) {
  CK_RV rv = injected("C_GetAttributeValue");
  if (rv != CKR_OK) return rv;
  for (CK_ULONG i = 0; i < count; ++i)
    if (hsmprov::shim::is_luna_attribute(attrs[i].type))
      return hsmprov::shim::luna_attributes(target, h, object, attrs, count);
  if (count > 1 && std::getenv("HSMPROV_SHIM_WHOLE_CALL_FAILS") != nullptr)
    return whole_call_failed(h, object, attrs, count);
  rv = target->C_GetAttributeValue(h, object, attrs, count);
  if (object == half_made.load()) as_half_made(attrs, count);
  return rv;
}

bool load_target() {
  if (target != nullptr) return true;
  const char* path = std::getenv("HSMPROV_SHIM_TARGET");
  void* library = dlopen(path ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
  auto get_list = library ? reinterpret_cast<CK_C_GetFunctionList>(dlsym(library, "C_GetFunctionList")) : nullptr;
  if (get_list == nullptr || get_list(&target) != CKR_OK) return false;
  shim = *target;
  shim.C_Initialize = shim_C_Initialize;
  shim.C_OpenSession = shim_C_OpenSession;
  shim.C_CloseSession = shim_C_CloseSession;
  shim.C_DestroyObject = shim_C_DestroyObject;
  shim.C_Login = shim_C_Login;
  shim.C_SignInit = shim_C_SignInit;
  shim.C_Sign = shim_C_Sign;
  shim.C_DecryptInit = shim_C_DecryptInit;
  shim.C_Decrypt = shim_C_Decrypt;
  shim.C_FindObjectsInit = shim_C_FindObjectsInit;
  shim.C_CopyObject = shim_C_CopyObject;
  shim.C_GenerateKeyPair = shim_C_GenerateKeyPair;
  shim.C_GetAttributeValue = shim_C_GetAttributeValue;
  shim.C_Finalize = shim_C_Finalize;
  shim.C_GetInfo = shim_C_GetInfo;
  shim.C_GetSlotList = shim_C_GetSlotList;
  shim.C_GetSlotInfo = shim_C_GetSlotInfo;
  shim.C_GetTokenInfo = shim_C_GetTokenInfo;
  shim.C_GetMechanismList = shim_C_GetMechanismList;
  shim.C_FindObjects = shim_C_FindObjects;
  shim.C_FindObjectsFinal = shim_C_FindObjectsFinal;
  shim.C_CreateObject = shim_C_CreateObject;
  shim.C_GenerateKey = shim_C_GenerateKey;
  shim.C_WrapKey = shim_C_WrapKey;
  arm_from_environment();
  return true;
}

}  // namespace

// For a test program in the same process (it dlopen()s this module too):
// fail the Nth call from now with `rv` (0: disarm); the name of the call
// failed last (empty if none); how many calls so far; the sessions open now.
extern "C" __attribute__((visibility("default"))) void hsmprov_shim_fail_call(unsigned long n, CK_RV rv) {
  std::lock_guard<std::mutex> lock(calls_mutex);
  fail_at = n == 0 ? 0 : calls + n;
  fail_with = rv;
  failed_function.clear();
}

extern "C" __attribute__((visibility("default"))) const char* hsmprov_shim_failed_function() {
  std::lock_guard<std::mutex> lock(calls_mutex);
  static std::string copy;
  copy = failed_function;
  return copy.c_str();
}

extern "C" __attribute__((visibility("default"))) unsigned long hsmprov_shim_calls() {
  std::lock_guard<std::mutex> lock(calls_mutex);
  return calls;
}

extern "C" __attribute__((visibility("default"))) unsigned long hsmprov_shim_open_sessions() {
  std::lock_guard<std::mutex> lock(sessions_mutex);
  return live_sessions.size();
}

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (!load_target()) return CKR_GENERAL_ERROR;
  *list = &shim;
  return CKR_OK;
}
