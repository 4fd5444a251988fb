// PKCS#11 module loading and the checked-call helper every C_* call goes through.
#include "pkcs11/module.h"

#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "error.h"
#include "log.h"
#include "pkcs11/ckr_names.h"

namespace hsmprov {
namespace {

std::atomic<bool> process_exiting{false};
// Incremented in every forked child: cheaper to test on each operation than
// asking the kernel for our pid.
std::atomic<unsigned> forks{0};

void note_exit() { process_exiting = true; }
void note_fork() { ++forks; }

void watch_process() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(note_exit);
    pthread_atfork(nullptr, nullptr, note_fork);
  });
}

}  // namespace

bool process_is_exiting() { return process_exiting; }

void check(CK_RV rv, const char* function, const std::string& where) {
  if (log::level() >= 2) log::write(2, where + ": " + function + ": " + ckr_name(rv));
  if (rv == CKR_OK) return;
  std::string message = where + ": " + function + ": " + ckr_name(rv);
  log::write(1, message);
  fail(HSMPROV_R_PKCS11, message);
}

Module::Module(const std::string& path, const std::string& init_args) : path_(path), init_args_(init_args) {
  watch_process();
  forks_seen_ = forks.load();
  library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library_ == nullptr)
    fail(HSMPROV_R_MODULE, "cannot load PKCS#11 module '" + path + "': " + dlerror());
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(library_, "C_GetFunctionList"));
  if (get_list == nullptr) {
    dlclose(library_);
    fail(HSMPROV_R_MODULE, "'" + path + "' is not a PKCS#11 module: no C_GetFunctionList");
  }
  CK_RV rv = get_list(&fn_);
  if (rv != CKR_OK || fn_ == nullptr) {
    dlclose(library_);
    fail(HSMPROV_R_MODULE, "module '" + path + "': C_GetFunctionList: " + ckr_name(rv));
  }
  try {
    initialize();
  } catch (...) {
    dlclose(library_);
    throw;
  }
}

CK_RV Module::call_initialize() {
  CK_C_INITIALIZE_ARGS args;
  std::memset(&args, 0, sizeof args);
  args.flags = CKF_OS_LOCKING_OK;
  // pReserved carries module-specific init args (NSS softokn needs them).
  args.pReserved = init_args_.empty() ? nullptr : const_cast<char*>(init_args_.c_str());
  return fn_->C_Initialize(&args);
}

void Module::initialize() {
  CK_RV rv = call_initialize();
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) return;  // shared with the application
  check(rv, "C_Initialize", "module '" + path_ + "'");
  we_initialized_ = true;
}

bool Module::forked() const { return forks.load(std::memory_order_relaxed) != forks_seen_; }

void Module::fork_handled() { forks_seen_ = forks.load(); }

void Module::reinitialize_after_fork() {
  log::write(1, "fork detected: initialising module '" + path_ + "' again");
  // Modules that detect fork reset themselves on C_Initialize; the others
  // still hold the parent's state and need C_Finalize first.
  CK_RV rv = call_initialize();
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    fn_->C_Finalize(nullptr);
    rv = call_initialize();
  }
  check(rv, "C_Initialize", "module '" + path_ + "' (after fork)");
  we_initialized_ = true;
}

Module::~Module() {
  // In a forked child that never used the module, its state is the parent's.
  if (we_initialized_ && !forked()) fn_->C_Finalize(nullptr);
  dlclose(library_);
}

}  // namespace hsmprov
