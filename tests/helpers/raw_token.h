// Shared by the test and benchmark programs that drive a PKCS#11 module
// straight, without the provider: load it, open a logged-in session on the
// token with a given label, find an object by label. Any failure ends the
// program with a message (these are test programs).
#pragma once

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "pkcs11/p11.h"

namespace raw_token {

inline void need(CK_RV rv, const char* what) {
  if (rv == CKR_OK) return;
  std::fprintf(stderr, "%s: 0x%lx\n", what, static_cast<unsigned long>(rv));
  std::exit(1);
}

struct Token {
  CK_FUNCTION_LIST* p11;
  CK_SLOT_ID slot;
  CK_SESSION_HANDLE session;  // stays open: it keeps the login
};

// `init_args`: the module's C_Initialize pReserved (NSS softokn), or empty.
inline Token open(const char* module, const std::string& init_args, const std::string& label, const std::string& pin) {
  void* library = dlopen(module, RTLD_NOW);
  auto get_list = library ? reinterpret_cast<CK_C_GetFunctionList>(dlsym(library, "C_GetFunctionList")) : nullptr;
  if (!get_list) need(CKR_GENERAL_ERROR, "dlopen");
  Token token{nullptr, 0, 0};
  need(get_list(&token.p11), "C_GetFunctionList");
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  args.pReserved = init_args.empty() ? nullptr : const_cast<char*>(init_args.c_str());
  CK_RV rv = token.p11->C_Initialize(&args);
  if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) need(rv, "C_Initialize");
  CK_SLOT_ID slots[16];
  CK_ULONG count = 16;
  need(token.p11->C_GetSlotList(CK_TRUE, slots, &count), "C_GetSlotList");
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_TOKEN_INFO info;
    token.p11->C_GetTokenInfo(slots[i], &info);
    std::string name(reinterpret_cast<char*>(info.label), sizeof info.label);
    if (name.substr(0, name.find_last_not_of(' ') + 1) != label) continue;
    token.slot = slots[i];
    need(token.p11->C_OpenSession(token.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &token.session),
         "C_OpenSession");
    rv = token.p11->C_Login(token.session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
                            pin.size());
    if (rv != CKR_USER_ALREADY_LOGGED_IN) need(rv, "C_Login");
    return token;
  }
  need(CKR_TOKEN_NOT_PRESENT, "token");
  return token;
}

// The one object of class `cls` labelled `label`.
inline CK_OBJECT_HANDLE find(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const std::string& label,
                             CK_OBJECT_CLASS cls) {
  CK_ATTRIBUTE query[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_ULONG n = 0;
  p11->C_FindObjectsInit(session, query, 2);
  p11->C_FindObjects(session, &h, 1, &n);
  p11->C_FindObjectsFinal(session);
  if (n != 1) need(CKR_OBJECT_HANDLE_INVALID, ("finding '" + label + "'").c_str());
  return h;
}

}  // namespace raw_token
