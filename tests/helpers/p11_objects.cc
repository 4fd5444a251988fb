// Test program: makes and uses token objects the tests need and no other
// tool makes on every token (NSS softokn needs init args pkcs11-tool cannot
// pass): secret keys, extractable key pairs, encryption with a secret key,
// and RFC 5649 known-answer wraps. Straight PKCS#11, no provider involved.
// Usage: hsmprov_p11_objects MODULE INIT_ARGS TOKEN_LABEL COMMAND ARGS...
//   (the user PIN comes from $HSMPROV_TEST_PIN)
//   aes LABEL BYTES extractable|fixed|trusted-only   make an AES key
//   hmac LABEL BYTES                                  make an extractable generic secret
//   rsa LABEL BITS | ec LABEL                         make an extractable key pair
//   ecb LABEL HEX                                     AES-ECB encrypt one block, print hex
//   sign-hmac LABEL HEX                               CKM_SHA256_HMAC, print hex
//   kwp KEK_HEX DATA_HEX                              C_WrapKey(CKM_AES_KEY_WRAP_KWP), print hex
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "helpers/raw_token.h"

namespace {

using Bytes = std::vector<unsigned char>;
using raw_token::need;
CK_FUNCTION_LIST* p11 = nullptr;
CK_SESSION_HANDLE session = 0;
CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

void print_hex(const Bytes& data) {
  for (unsigned char b : data) std::printf("%02x", b);
  std::printf("\n");
}

CK_OBJECT_HANDLE find(const std::string& label, CK_OBJECT_CLASS cls) { return raw_token::find(p11, session, label, cls); }

CK_OBJECT_HANDLE secret(const std::string& label, CK_KEY_TYPE type, CK_MECHANISM_TYPE mechanism, CK_ULONG bytes,
                        CK_BBOOL extractable, CK_BBOOL trusted_only, CK_BBOOL token = CK_TRUE) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &token, 1},
                      {CKA_LABEL, const_cast<char*>(label.data()), label.size()}, {CKA_VALUE_LEN, &bytes, sizeof bytes},
                      {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &extractable, 1}, {CKA_ENCRYPT, &yes, 1},
                      {CKA_SIGN, &yes, 1}, {CKA_WRAP_WITH_TRUSTED, &trusted_only, 1}, {CKA_PRIVATE, &yes, 1}};
  CK_MECHANISM m{mechanism, nullptr, 0};
  CK_OBJECT_HANDLE h;
  need(p11->C_GenerateKey(session, &m, t, 11, &h), "C_GenerateKey");
  return h;
}

void key_pair(const std::string& label, bool rsa, CK_ULONG bits) {
  Bytes p256 = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  Bytes e = {1, 0, 1};
  Bytes id(label.begin(), label.end());
  std::vector<CK_ATTRIBUTE> pub = {{CKA_TOKEN, &yes, 1}, {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
                                   {CKA_ID, id.data(), id.size()}, {CKA_VERIFY, &yes, 1}};
  if (rsa) {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
    pub.push_back({CKA_PUBLIC_EXPONENT, e.data(), e.size()});
  } else {
    pub.push_back({CKA_EC_PARAMS, p256.data(), p256.size()});
  }
  CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1}, {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
                         {CKA_ID, id.data(), id.size()}, {CKA_SIGN, &yes, 1}, {CKA_SENSITIVE, &yes, 1},
                         {CKA_EXTRACTABLE, &yes, 1}, {CKA_PRIVATE, &yes, 1}};
  CK_MECHANISM m{rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE a, b;
  need(p11->C_GenerateKeyPair(session, &m, pub.data(), pub.size(), priv, 7, &a, &b), "C_GenerateKeyPair");
}

Bytes run(CK_RV (*init)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE),
          CK_RV (*op)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR), CK_MECHANISM_TYPE mech,
          CK_OBJECT_HANDLE key, const Bytes& in) {
  CK_MECHANISM m{mech, nullptr, 0};
  Bytes out(256);
  CK_ULONG size = out.size();
  need(init(session, &m, key), "init");
  need(op(session, const_cast<unsigned char*>(in.data()), in.size(), out.data(), &size), "op");
  out.resize(size);
  return out;
}

CK_OBJECT_HANDLE import_secret(const Bytes& value, CK_KEY_TYPE type) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &no, 1},
                      {CKA_VALUE, const_cast<unsigned char*>(value.data()), value.size()}, {CKA_WRAP, &yes, 1},
                      {CKA_EXTRACTABLE, &yes, 1}};
  CK_OBJECT_HANDLE h;
  need(p11->C_CreateObject(session, t, 6, &h), "C_CreateObject");
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODULE INIT_ARGS TOKEN_LABEL COMMAND ARGS...\n", argv[0]);
    return 2;
  }
  const char* pin = std::getenv("HSMPROV_TEST_PIN");
  raw_token::Token token = raw_token::open(argv[1], argv[2], argv[3], pin ? pin : "");
  p11 = token.p11;
  session = token.session;
  std::string command = argv[4], label = argv[5];
  if (command == "aes") {
    std::string mode = argv[7];
    secret(label, CKK_AES, CKM_AES_KEY_GEN, std::stoul(argv[6]), mode != "fixed", mode == "trusted-only");
  } else if (command == "hmac") {
    secret(label, CKK_GENERIC_SECRET, CKM_GENERIC_SECRET_KEY_GEN, std::stoul(argv[6]), CK_TRUE, CK_FALSE);
  } else if (command == "rsa" || command == "ec") {
    key_pair(label, command == "rsa", command == "rsa" ? std::stoul(argv[6]) : 0);
  } else if (command == "ecb") {
    print_hex(run(p11->C_EncryptInit, p11->C_Encrypt, CKM_AES_ECB, find(label, CKO_SECRET_KEY), from_hex(argv[6])));
  } else if (command == "sign-hmac") {
    print_hex(run(p11->C_SignInit, p11->C_Sign, CKM_SHA256_HMAC, find(label, CKO_SECRET_KEY), from_hex(argv[6])));
  } else if (command == "kwp") {
    CK_OBJECT_HANDLE kek = import_secret(from_hex(argv[5]), CKK_AES);
    CK_OBJECT_HANDLE data = import_secret(from_hex(argv[6]), CKK_GENERIC_SECRET);
    CK_MECHANISM m{CKM_AES_KEY_WRAP_KWP, nullptr, 0};
    Bytes out(256);
    CK_ULONG size = out.size();
    need(p11->C_WrapKey(session, &m, kek, data, out.data(), &size), "C_WrapKey");
    out.resize(size);
    print_hex(out);
  } else {
    return 2;
  }
  p11->C_CloseSession(session);
  p11->C_Finalize(nullptr);
  return 0;
}
