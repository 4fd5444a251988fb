// TEST DOUBLE: a PKCS#11 module for the tests only. It forwards every call
// to a real module (SoftHSM; HSMPROV_SHIM_TARGET names it) and adds what no
// soft token has:
// - faults on demand: each line "C_Name CKR_NAME" of the file
//   HSMPROV_SHIM_FAULTS makes that function fail with that code while the
//   line is there (e.g. "C_Sign CKR_DEVICE_REMOVED");
// - Luna's PKC attributes (luna_pkc.cc): CKA_PKC_CITS/TCTRUST/ECC and
//   CKA_OUID of private keys generated on the token as never-extractable,
//   built from the test chain in HSMPROV_SHIM_PKC_DIR;
// - a watch on stale sessions: closing a session, or destroying an object
//   through one, that was opened before the last C_Initialize (a parent's,
//   in a forked child) is refused and written to HSMPROV_SHIM_MISUSE.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "pkcs11/ckr_names.h"
#include "shim/luna_pkc.h"

namespace {

CK_FUNCTION_LIST* target = nullptr;
CK_FUNCTION_LIST shim;

std::mutex sessions_mutex;
std::set<CK_SESSION_HANDLE> live_sessions;  // opened since the last C_Initialize

// True for a session of this initialisation; else notes the misuse.
bool live(CK_SESSION_HANDLE h, const char* function) {
  std::lock_guard<std::mutex> lock(sessions_mutex);
  if (live_sessions.count(h)) return true;
  if (const char* path = std::getenv("HSMPROV_SHIM_MISUSE"))
    std::ofstream(path, std::ios::app) << function << " on session " << h << ", opened before C_Initialize\n";
  return false;
}

// The code the fault file sets for `function`, or CKR_OK.
CK_RV injected(const char* function) {
  const char* path = std::getenv("HSMPROV_SHIM_FAULTS");
  if (path == nullptr) return CKR_OK;
  std::ifstream faults(path);
  std::string line;
  while (std::getline(faults, line)) {
    std::istringstream words(line);
    std::string name, code;
    if (!(words >> name >> code) || name != function) continue;
    for (CK_RV rv = 0; rv < 0x200; ++rv)
      if (hsmprov::ckr_name(rv) == code) return rv;
  }
  return CKR_OK;
}

#define SHIM_FORWARD(name, params, args)      \
  CK_RV shim_##name params {                  \
    CK_RV rv = injected(#name);               \
    if (rv != CKR_OK) return rv;              \
    return target->name args;                 \
  }

CK_RV shim_C_Initialize(CK_VOID_PTR args) {
  CK_RV rv = target->C_Initialize(args);
  std::lock_guard<std::mutex> lock(sessions_mutex);
  if (rv == CKR_OK) live_sessions.clear();
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
  if (!live(h, "C_CloseSession")) return CKR_SESSION_HANDLE_INVALID;
  {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    live_sessions.erase(h);
  }
  return target->C_CloseSession(h);
}

CK_RV shim_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object) {
  if (!live(h, "C_DestroyObject")) return CKR_SESSION_HANDLE_INVALID;
  return target->C_DestroyObject(h, object);
}
SHIM_FORWARD(C_Login, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG l), (h, u, p, l))
SHIM_FORWARD(C_SignInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
SHIM_FORWARD(C_Sign, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG_PTR sl),
             (h, d, l, s, sl))
SHIM_FORWARD(C_DecryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
SHIM_FORWARD(C_Decrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol),
             (h, d, l, o, ol))
SHIM_FORWARD(C_FindObjectsInit, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n))
SHIM_FORWARD(C_CopyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                            CK_OBJECT_HANDLE_PTR c), (h, o, t, n, c))
SHIM_FORWARD(C_GenerateKeyPair,
             (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR qt,
              CK_ULONG qn, CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR qk),
             (h, m, pt, pn, qt, qn, pk, qk))

// Luna attributes are answered here; the rest goes to the target module.
CK_RV shim_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR attrs, CK_ULONG count) {
  CK_RV rv = injected("C_GetAttributeValue");
  if (rv != CKR_OK) return rv;
  for (CK_ULONG i = 0; i < count; ++i)
    if (hsmprov::shim::is_luna_attribute(attrs[i].type))
      return hsmprov::shim::luna_attributes(target, h, object, attrs, count);
  return target->C_GetAttributeValue(h, object, attrs, count);
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
  return true;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (!load_target()) return CKR_GENERAL_ERROR;
  *list = &shim;
  return CKR_OK;
}
