// PKCS#11 module loading and the checked-call helper every C_* call goes through.
#include "pkcs11/module.h"

#include <dlfcn.h>
#include <pthread.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

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
thread_local bool in_initialize = false;

void note_exit() { process_exiting = true; }

// The gate every call passes (CallInFlight) and fork() or a module's
// re-initialisation closes (ModuleGate): a count of calls in flight and a
// flag, both atomic, so that no lock of ours is held across fork() and none
// needs repair in the child (glibc's rwlock cannot be unlocked there: it
// records the writer's thread id, which the child's thread does not have).
// A caller that meets a closed gate steps back and waits, so that a fork is
// never held back by threads that sign without pause.
std::atomic<int> calls_in_flight{0};
std::atomic<bool> gate_closed{false};
// This thread's calls: a call made from inside another (a module calling
// back into OpenSSL and so into us) passes on the first one's pass.
thread_local int nested_calls = 0;
// This thread closed the gate: its own calls pass.
thread_local bool holds_gate = false;
// Set by the forking thread for its own fork (glibc runs the three handlers
// of one fork in the thread that forks).
thread_local bool gate_closed_for_fork = false;

// Forks and module calls take micro- to milliseconds: a short sleep is cheap
// next to either, and needs no lock.
void pause_briefly() {
  struct timespec pause = {0, 50 * 1000};
  nanosleep(&pause, nullptr);
}

void close_gate() {
  bool open = false;
  while (!gate_closed.compare_exchange_weak(open, true)) {
    open = false;
    pause_briefly();
  }
  while (calls_in_flight.load() != 0) pause_briefly();
  holds_gate = true;
}

void open_gate() {
  holds_gate = false;
  gate_closed = false;
}

void before_fork() {
  // A fork from inside a call (a module that starts a helper process), or
  // while this thread holds the gate, must not wait for itself.
  if (nested_calls > 0 || holds_gate) return;
  close_gate();
  gate_closed_for_fork = true;
}

void after_fork_in_parent() {
  if (!gate_closed_for_fork) return;
  gate_closed_for_fork = false;
  open_gate();
}

void after_fork_in_child() {
  after_fork_in_parent();
  ++forks;
}

void watch_process() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(note_exit);
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  });
}

// Owns a dlopen handle until the module is fully set up.
struct Library {
  void* handle;
  ~Library() {
    if (handle != nullptr) dlclose(handle);
  }
};

}  // namespace

bool process_is_exiting() { return process_exiting; }

CallInFlight::CallInFlight() {
  if (nested_calls++ > 0 || holds_gate) return;
  counted_ = true;
  for (;;) {
    calls_in_flight.fetch_add(1);
    if (!gate_closed.load()) return;
    calls_in_flight.fetch_sub(1);  // step back: the gate's holder waits for the count to reach 0
    while (gate_closed.load()) pause_briefly();
  }
}

CallInFlight::~CallInFlight() {
  --nested_calls;
  if (counted_) calls_in_flight.fetch_sub(1);
}

ModuleGate::ModuleGate() { close_gate(); }

ModuleGate::~ModuleGate() { open_gate(); }

std::string process_user() {
  uid_t uid = geteuid();
  std::string text = "uid " + std::to_string(uid);
  passwd entry{};
  passwd* found = nullptr;
  char buffer[1024];
  if (getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr)
    text += std::string(" (") + found->pw_name + ")";
  return text;
}

bool service_lost(CK_RV rv) {
  switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

void check(CK_RV rv, const char* function, const std::string& where) {
  if (rv == CKR_OK) {
    if (log::level() >= 2) log::write(2, where + ": " + function + ": CKR_OK");
    return;
  }
  std::string message = where + ": " + function + ": " + ckr_name(rv);
  log::write(1, message);  // failures at level 1, once
  throw Pkcs11Error(rv, message);
}

Module::Module(const std::string& path, const std::string& init_args, const std::string& named_by)
    : path_(path), init_args_(init_args) {
  watch_process();
  forks_seen_ = forks.load();
  // A module's constructors may use OpenSSL too: keep their debris off the queue.
  ERR_set_mark();
  Library library{dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)};
  std::string failure = library.handle == nullptr ? dlerror() : "";
  ERR_pop_to_mark();
  if (library.handle == nullptr)
    fail(HSMPROV_R_MODULE, "cannot load PKCS#11 " + where() + " (named by " + named_by + "): " + failure);
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(library.handle, "C_GetFunctionList"));
  if (get_list == nullptr) fail(HSMPROV_R_MODULE, "'" + path + "' is not a PKCS#11 module: no C_GetFunctionList");
  CK_RV rv = call(get_list, &fn_);
  if (rv != CKR_OK || fn_ == nullptr) fail(HSMPROV_R_MODULE, where() + ": C_GetFunctionList: " + ckr_name(rv));
  initialize();
  rv = call(fn_->C_GetInfo, &info_);
  if (rv != CKR_OK && we_initialized_) call(fn_->C_Finalize, nullptr);
  check(rv, "C_GetInfo", where());
  library_ = library.handle;
  library.handle = nullptr;
}

bool Module::initializing_on_this_thread() { return in_initialize; }

CK_RV Module::call_initialize() {
  CK_C_INITIALIZE_ARGS args;
  std::memset(&args, 0, sizeof args);
  args.flags = CKF_OS_LOCKING_OK;
  // pReserved carries module-specific init args (NSS softokn needs them).
  args.pReserved = init_args_.empty() ? nullptr : const_cast<char*>(init_args_.c_str());
  in_initialize = true;
  CK_RV rv = call(fn_->C_Initialize, &args);
  in_initialize = false;
  return rv;
}

void Module::initialize() {
  CK_RV rv = call_initialize();
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    log::write(1, where() + " was initialised by the application: shared, never finalised by hsmprov");
    return;
  }
  check_initialized(rv, "");
  we_initialized_ = true;
}

// A module that keeps its tokens in files fails to start, often with a bare
// CKR_GENERAL_ERROR, when this user cannot read them: say who we are.
void Module::check_initialized(CK_RV rv, const char* when) {
  if (rv == CKR_OK) return check(rv, "C_Initialize", where() + when);  // logs the call
  std::string message = where() + when + ": C_Initialize: " + ckr_name(rv) + " as " + process_user();
  message += service_lost(rv) ? "; if it is the client of a network HSM or token service, check that the service "
                                "runs and this process can reach it"
                              : "; if the module keeps its tokens in files (SoftHSM does), check that this user can "
                                "read its config and token directory";
  if (rv == CKR_ARGUMENTS_BAD) message += "; check pkcs11-module-init-args";
  log::write(1, message);
  throw Pkcs11Error(rv, message);
}

bool Module::forked() const { return forks.load(std::memory_order_relaxed) != forks_seen_; }

void Module::fork_handled() { forks_seen_ = forks.load(); }

void Module::reinitialize_after_fork() {
  log::write(1, "fork detected: initialising " + where() + " again");
  CK_RV rv = call_initialize();
  // Modules that detect fork reset themselves on C_Initialize; the others
  // still hold the parent's state and need C_Finalize first, as does a
  // network client that keeps the parent's connection, which its service
  // may have dropped since (pkcs11-proxy then fails with a device error).
  // A module the application owns is the application's to reset.
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && shared()) return;
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED || (service_lost(rv) && !shared())) {
    CK_RV finalized = call(fn_->C_Finalize, nullptr);
    rv = call_initialize();
    // Still initialised because the reset failed: that failure is the cause.
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && finalized != CKR_OK) {
      std::string message = where() + " after fork: C_Finalize: " + ckr_name(finalized) +
                            ", so the module keeps the parent's state and cannot be initialised again";
      log::write(1, message);
      throw Pkcs11Error(finalized, message);
    }
  }
  check_initialized(rv, " after fork");
}

void Module::reinitialize() {
  log::write(1, "initialising " + where() + " again");
  ModuleGate gate;
  // A module the application initialised is the application's to reset.
  if (!shared()) call(fn_->C_Finalize, nullptr);  // a module whose service is gone may fail it: no matter
  CK_RV rv = call_initialize();
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && shared()) return;
  check(rv, "C_Initialize", where() + " (initialised again)");
  we_initialized_ = true;
}

Module::~Module() {
  // In a forked child that never used the module, its state is the parent's.
  if (we_initialized_ && !forked()) call(fn_->C_Finalize, nullptr);
  dlclose(library_);
}

}  // namespace hsmprov
