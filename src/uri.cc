// pkcs11: URI handling over p11-kit's parser.
#include "uri.h"

#include <dlfcn.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>

#include <openssl/crypto.h>

#include "error.h"

namespace hsmprov {
namespace {

// p11-kit's URI functions, loaded with the first URI. Linked, libp11-kit
// (and libffi with it) would load into every OpenSSL program that has
// hsmprov in its config, most of which never see a pkcs11: URI; that alone
// made `openssl version` a fifth slower.
struct P11Kit {
  decltype(&p11_kit_uri_new) uri_new;
  decltype(&p11_kit_uri_free) uri_free;
  decltype(&p11_kit_uri_parse) parse;
  decltype(&p11_kit_uri_message) message;
  decltype(&p11_kit_uri_any_unrecognized) any_unrecognized;
  decltype(&p11_kit_uri_get_attributes) get_attributes;
  decltype(&p11_kit_uri_set_attribute) set_attribute;
  decltype(&p11_kit_uri_match_token_info) match_token_info;
  decltype(&p11_kit_uri_match_slot_info) match_slot_info;
  decltype(&p11_kit_uri_match_module_info) match_module_info;
  decltype(&p11_kit_uri_get_slot_id) get_slot_id;
  decltype(&p11_kit_uri_get_slot_info) get_slot_info;
  decltype(&p11_kit_uri_get_token_info) get_token_info;
  decltype(&p11_kit_uri_get_pin_value) get_pin_value;
  decltype(&p11_kit_uri_set_pin_value) set_pin_value;
  decltype(&p11_kit_uri_get_pin_source) get_pin_source;
  decltype(&p11_kit_uri_format) format;
};

template <typename F>
void bind(void* library, const char* name, F& function, std::string& missing) {
  function = reinterpret_cast<F>(dlsym(library, name));
  if (function == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
}

P11Kit load_p11kit() {
  void* library = dlopen("libp11-kit.so.0", RTLD_NOW | RTLD_LOCAL);
  // Loaded on the first URI, not with the provider (it costs start-up): a
  // process that chrooted in between (Dovecot's login processes) cannot.
  if (library == nullptr)
    fail(HSMPROV_R_LIBRARY, std::string("cannot load p11-kit's URI parser, which hsmprov loads on its first "
                                        "pkcs11: URI: ") + dlerror() +
                                "; a process that changed its root directory (chroot) since it loaded hsmprov "
                                "cannot reach it");
  P11Kit api{};
  std::string missing;
  bind(library, "p11_kit_uri_new", api.uri_new, missing);
  bind(library, "p11_kit_uri_free", api.uri_free, missing);
  bind(library, "p11_kit_uri_parse", api.parse, missing);
  bind(library, "p11_kit_uri_message", api.message, missing);
  bind(library, "p11_kit_uri_any_unrecognized", api.any_unrecognized, missing);
  bind(library, "p11_kit_uri_get_attributes", api.get_attributes, missing);
  bind(library, "p11_kit_uri_set_attribute", api.set_attribute, missing);
  bind(library, "p11_kit_uri_match_token_info", api.match_token_info, missing);
  bind(library, "p11_kit_uri_match_slot_info", api.match_slot_info, missing);
  bind(library, "p11_kit_uri_match_module_info", api.match_module_info, missing);
  bind(library, "p11_kit_uri_get_slot_id", api.get_slot_id, missing);
  bind(library, "p11_kit_uri_get_slot_info", api.get_slot_info, missing);
  bind(library, "p11_kit_uri_get_token_info", api.get_token_info, missing);
  bind(library, "p11_kit_uri_get_pin_value", api.get_pin_value, missing);
  bind(library, "p11_kit_uri_set_pin_value", api.set_pin_value, missing);
  bind(library, "p11_kit_uri_get_pin_source", api.get_pin_source, missing);
  bind(library, "p11_kit_uri_format", api.format, missing);
  if (!missing.empty()) fail(HSMPROV_R_URI, "libp11-kit.so.0 lacks " + missing);
  return api;  // the library stays loaded for the life of the process
}

const P11Kit& p11kit() {
  static std::mutex mutex;
  static std::unique_ptr<P11Kit> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  if (!loaded) loaded = std::make_unique<P11Kit>(load_p11kit());
  return *loaded;
}

// RFC 7512's path attributes; p11-kit takes the last of a repeated one and
// ignores query attributes it does not know, so the text is checked first.
bool known_path_attribute(const std::string& name) {
  static const char* const names[] = {"token", "manufacturer", "serial", "model", "library-manufacturer",
                                      "library-description", "library-version", "object", "type", "id",
                                      "slot-description", "slot-manufacturer", "slot-id"};
  for (const char* known : names)
    if (name == known) return true;
  return false;
}

// Views into `text`: no copy of a value (a pin-value is the PIN) is made.
std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t end; (end = text.find(separator, start)) != std::string_view::npos; start = end + 1)
    parts.push_back(text.substr(start, end - start));
  parts.push_back(text.substr(start));
  return parts;
}

bool holds_nul(std::string_view value) {
  for (size_t at = value.find('%'); at != std::string_view::npos; at = value.find('%', at + 1))
    if (value.substr(at + 1, 2) == "00") return true;
  return false;
}

// Refuses what p11-kit would let through: an attribute given twice, an
// unknown or unsupported query attribute, an empty object= or id= (which
// would select more than the user named), a NUL byte in a text value.
void check_attributes(const char* written) {
  // p11-kit skips whitespace anywhere in a URI (RFC 7512 §2.3 lets a URI be
  // wrapped); read the same text it reads. The URI may hold the PIN: the
  // one copy made here is sized once (no reallocation leaves a copy behind)
  // and wiped; everything else is a view into it.
  std::string text;
  WipeOnExit wipe_text(text);
  text.reserve(std::strlen(written));
  for (const char* c = written; *c != '\0'; ++c)
    if (!std::isspace(static_cast<unsigned char>(*c))) text += *c;
  static constexpr std::string_view scheme = "pkcs11:";
  if (text.size() < scheme.size() || strncasecmp(text.c_str(), scheme.data(), scheme.size()) != 0)
    return;  // not a pkcs11: URI at all: p11-kit says so (a scheme is case-insensitive, as p11-kit reads it)
  std::string_view rest = std::string_view(text).substr(scheme.size());
  size_t question = rest.find('?');
  std::vector<std::pair<std::string_view, bool>> parts;  // attribute, in the query
  for (std::string_view item : split(rest.substr(0, question), ';')) parts.emplace_back(item, false);
  if (question != std::string_view::npos)
    for (std::string_view item : split(rest.substr(question + 1), '&')) parts.emplace_back(item, true);
  std::vector<std::string> seen;
  for (const auto& [item, in_query] : parts) {
    if (item.empty()) continue;
    size_t equals = item.find('=');
    std::string name(item.substr(0, equals));  // the name only: messages quote it, never a value
    std::string_view value = equals == std::string_view::npos ? std::string_view() : item.substr(equals + 1);
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      fail(HSMPROV_R_URI, "the pkcs11: URI gives '" + name + "' twice");
    seen.push_back(name);
    if (in_query && (name == "module-name" || name == "module-path"))
      fail(HSMPROV_R_URI, "the pkcs11: URI names a module ('" + name +
                              "'): hsmprov uses the module of its config section (pkcs11-module-path)");
    if (in_query && name != "pin-value" && name != "pin-source")
      fail(HSMPROV_R_URI, "the pkcs11: URI has the unknown query attribute '" + name + "'");
    if (!in_query && !known_path_attribute(name))
      fail(HSMPROV_R_URI, "the pkcs11: URI has the unknown attribute '" + name + "'");
    if ((name == "object" || name == "id") && value.empty())
      fail(HSMPROV_R_URI, "the pkcs11: URI's '" + name + "=' is empty: give a value or leave it out");
    // id= is bytes (any of them 0); every other value is text, where a NUL
    // would cut it short when a module reads it as a C string.
    if (name != "id" && holds_nul(value))
      fail(HSMPROV_R_URI, "the pkcs11: URI's '" + name + "' holds a NUL byte (%00)");
  }
}

// The whitespace p11-kit skips in a URI (P11_URL_WHITESPACE, in p11-kit's
// common/url.h). Given a URI with any of it, p11_kit_uri_parse() strips it
// in a copy that it frees without wiping.
constexpr const char* kP11KitWhitespace = " \n\r\v";

void wipe_pin_value(P11KitUri* uri) {
  const P11Kit& api = p11kit();
  // p11-kit hands out its own buffer; p11_kit_uri_set_pin_value() frees it
  // as it is, so it is wiped here first.
  if (char* value = const_cast<char*>(api.get_pin_value(uri))) {
    OPENSSL_cleanse(value, std::strlen(value));
    api.set_pin_value(uri, nullptr);
  }
}

}  // namespace

void Uri::Free::operator()(P11KitUri* uri) const {
  wipe_pin_value(uri);
  p11kit().uri_free(uri);
}

Uri::Uri(Handle handle, Pin pin_value) : uri_(std::move(handle)), pin_value_(std::move(pin_value)) {
  CK_ULONG count = 0;
  CK_ATTRIBUTE* attrs = p11kit().get_attributes(uri_.get(), &count);
  for (CK_ULONG i = 0; i < count; ++i) {
    auto* bytes = static_cast<unsigned char*>(attrs[i].pValue);
    attributes_.push_back({attrs[i].type, std::vector<unsigned char>(bytes, bytes + attrs[i].ulValueLen)});
  }
}

Uri Uri::parse(const std::string& text) {
  if (text.find('\0') != std::string::npos) fail(HSMPROV_R_URI, "the pkcs11: URI holds a NUL byte");
  return parse(text.c_str());
}

// The URI's text is the caller's (OpenSSL's copy of a command-line
// argument, a key reference's): hsmprov keeps no copy of it, and wipes
// the ones it makes (here and in check_attributes()).
Uri Uri::parse(const char* text) {
  check_attributes(text);
  const P11Kit& api = p11kit();
  std::string stripped;
  WipeOnExit wipe_stripped(stripped);
  if (text[std::strcspn(text, kP11KitWhitespace)] != '\0') {
    stripped.reserve(std::strlen(text));
    for (const char* c = text; *c != '\0'; ++c)
      if (std::strchr(kP11KitWhitespace, *c) == nullptr) stripped += *c;
    text = stripped.c_str();
  }
  Handle handle(api.uri_new());
  if (handle == nullptr) fail(HSMPROV_R_INTERNAL, "out of memory");
  int rc = api.parse(text, P11_KIT_URI_FOR_ANY, handle.get());
  if (rc != P11_KIT_URI_OK) fail(HSMPROV_R_URI, "malformed pkcs11: URI: " + std::string(api.message(rc)));
  if (api.any_unrecognized(handle.get()))
    fail(HSMPROV_R_URI, "the pkcs11: URI has an attribute this provider does not know");
  // The pin-value into its locked page; p11-kit's decoded copy is wiped and
  // dropped now, not when the URI goes (with the store that opened it).
  Pin pin_value;
  if (const char* value = api.get_pin_value(handle.get())) pin_value = Pin(value, std::strlen(value));
  wipe_pin_value(handle.get());
  return Uri(std::move(handle), std::move(pin_value));
}

bool Uri::matches_token(const CK_TOKEN_INFO& token) const {
  return p11kit().match_token_info(uri_.get(), &token) == 1;
}

bool Uri::matches_slot(CK_SLOT_ID id, const std::function<CK_SLOT_INFO()>& slot_info) const {
  CK_SLOT_ID wanted = p11kit().get_slot_id(uri_.get());
  if (wanted != static_cast<CK_SLOT_ID>(-1) && wanted != id) return false;
  // p11-kit leaves the fields a URI does not give zeroed.
  const CK_SLOT_INFO* named = p11kit().get_slot_info(uri_.get());
  if (named == nullptr || (named->slotDescription[0] == 0 && named->manufacturerID[0] == 0)) return true;
  CK_SLOT_INFO slot = slot_info();
  return p11kit().match_slot_info(uri_.get(), &slot) == 1;
}

bool Uri::matches_module(const CK_INFO& module) const {
  return p11kit().match_module_info(uri_.get(), &module) == 1;
}

std::optional<CK_OBJECT_CLASS> Uri::object_class() const {
  for (const Attribute& a : attributes_) {
    if (a.type == CKA_CLASS && a.value.size() == sizeof(CK_OBJECT_CLASS)) {
      CK_OBJECT_CLASS c;
      std::memcpy(&c, a.value.data(), sizeof c);
      return c;
    }
  }
  return std::nullopt;
}

bool Uri::names_object() const {
  for (const Attribute& a : attributes_)
    if (a.type == CKA_LABEL || a.type == CKA_ID) return true;
  return false;
}

std::string Uri::pin_source() const {
  const char* v = p11kit().get_pin_source(uri_.get());
  return v ? v : "";
}

Attribute ulong_attribute(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  std::vector<unsigned char> bytes(sizeof value);
  std::memcpy(bytes.data(), &value, sizeof value);
  return {type, bytes};
}

std::vector<CK_ATTRIBUTE> as_template(std::vector<Attribute>& attributes) {
  std::vector<CK_ATTRIBUTE> out;
  for (Attribute& a : attributes) out.push_back({a.type, a.value.data(), a.value.size()});
  return out;
}

std::string object_uri(const CK_TOKEN_INFO& token, const std::vector<Attribute>& attributes) {
  const P11Kit& api = p11kit();
  std::unique_ptr<P11KitUri, decltype(&p11_kit_uri_free)> uri(api.uri_new(), api.uri_free);
  CK_TOKEN_INFO* info = api.get_token_info(uri.get());
  std::memcpy(info->label, token.label, sizeof info->label);
  std::memcpy(info->manufacturerID, token.manufacturerID, sizeof info->manufacturerID);
  std::memcpy(info->model, token.model, sizeof info->model);
  std::memcpy(info->serialNumber, token.serialNumber, sizeof info->serialNumber);
  std::vector<Attribute> copy = attributes;
  for (CK_ATTRIBUTE& a : as_template(copy)) api.set_attribute(uri.get(), &a);
  char* text = nullptr;
  if (api.format(uri.get(), P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &text) != P11_KIT_URI_OK)
    fail(HSMPROV_R_INTERNAL, "cannot format a pkcs11: URI");
  std::string result(text);
  std::free(text);
  return result;
}

}  // namespace hsmprov
