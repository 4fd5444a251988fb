// Unit tests: session pool logic. The SessionOps here is a test double that
// counts opens, closes and logins; no PKCS#11 module is involved.
#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "pkcs11/session_pool.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Session;
using hsmprov::SessionPool;

namespace {

struct CountingOps : hsmprov::SessionOps {
  std::atomic<CK_SESSION_HANDLE> next{1};
  std::atomic<int> opened{0}, closed{0}, logins{0}, logins_tried{0};
  bool fail_login = false;
  std::mutex mutex;
  std::set<CK_SESSION_HANDLE> live;

  CK_SESSION_HANDLE open() override {
    ++opened;
    std::lock_guard<std::mutex> lock(mutex);
    CK_SESSION_HANDLE h = next++;
    live.insert(h);
    return h;
  }
  void close(CK_SESSION_HANDLE h) override {
    ++closed;
    std::lock_guard<std::mutex> lock(mutex);
    live.erase(h);
  }
  void login(CK_SESSION_HANDLE) override {
    ++logins_tried;
    if (fail_login) throw std::runtime_error("CKR_PIN_INCORRECT");
    ++logins;
  }
};

void sessions_are_reused(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  CK_SESSION_HANDLE first;
  {
    Session s = pool.acquire();
    first = s.handle();
  }
  {
    Session s = pool.acquire();
    assert_int_equal(s.handle(), first);
  }
  assert_int_equal(ops.opened, 2);  // the anchor and one working session
  assert_int_equal(pool.idle_count(), 1);
}

void anchor_is_never_handed_out(void**) {
  CountingOps ops;
  SessionPool pool(ops, 0);
  Session a = pool.acquire();
  assert_int_equal(ops.opened, 2);
  assert_int_not_equal(a.handle(), 1);  // the anchor was opened first
  assert_int_equal(pool.open_count(), 2);
}

void concurrent_users_get_distinct_sessions(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  Session a = pool.acquire();
  Session b = pool.acquire();
  assert_int_not_equal(a.handle(), b.handle());
  assert_int_equal(pool.open_count(), 3);
}

void login_happens_once(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  pool.require_login();
  pool.require_login();
  { Session s = pool.acquire(); }
  assert_int_equal(ops.logins, 1);
  assert_true(pool.logged_in());
}

void failed_login_leaves_pool_logged_out(void**) {
  CountingOps ops;
  ops.fail_login = true;
  SessionPool pool(ops);
  bool thrown = false;
  try {
    pool.require_login();
  } catch (const std::runtime_error&) {
    thrown = true;
  }
  assert_true(thrown);
  assert_false(pool.logged_in());
  ops.fail_login = false;
  pool.require_login();  // the anchor is still there to log in on
  assert_true(pool.logged_in());
  assert_int_equal(ops.opened, 1);
}

void broken_sessions_are_closed(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  {
    Session s = pool.acquire();
    s.mark_broken();
  }
  assert_int_equal(ops.closed, 1);
  assert_int_equal(pool.idle_count(), 0);
  assert_int_equal(pool.open_count(), 1);  // the anchor
}

// The case that made the anchor: every working session breaks (a device
// error on the only one in use); the login and the module's object handles
// must survive it.
void anchor_keeps_the_login_when_every_working_session_closes(void**) {
  CountingOps ops;
  SessionPool pool(ops, 0);  // keep no idle sessions
  pool.require_login();
  {
    Session s = pool.acquire();
    s.mark_broken();
  }
  { Session s = pool.acquire(); }
  assert_int_equal(static_cast<int>(ops.live.size()), 1);  // only the anchor is open
  assert_true(pool.logged_in());
  assert_int_equal(ops.logins, 1);
}

void lost_login_is_done_again(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  pool.require_login();
  pool.login_lost();
  { Session s = pool.acquire(); }
  assert_int_equal(ops.logins, 2);
}

// A device error on any session: the anchor may be gone too. The next
// acquire opens a new anchor before it closes the old, and logs in on it.
void lost_anchor_is_replaced(void**) {
  CountingOps ops;
  SessionPool pool(ops, 0);
  pool.require_login();
  CK_SESSION_HANDLE first_anchor = 1;
  pool.anchor_lost();
  { Session s = pool.acquire(); }
  assert_true(ops.live.count(first_anchor) == 0);
  assert_int_equal(static_cast<int>(ops.live.size()), 1);  // the new anchor
  assert_int_equal(ops.logins, 2);
  assert_true(pool.logged_in());
}

// A PIN the token refused is not tried on every acquire: each try counts
// toward locking the token.
void refused_login_is_not_retried_on_every_acquire(void**) {
  CountingOps ops;
  ops.fail_login = true;
  SessionPool pool(ops);
  try {
    pool.require_login();
  } catch (const std::runtime_error&) {
    pool.login_refused();  // what the token does for CKR_PIN_INCORRECT
  }
  int tries = ops.logins_tried;
  { Session s = pool.acquire(); }
  { Session s = pool.acquire(); }
  assert_int_equal(ops.logins_tried, tries);
}

void fork_reset_forgets_without_closing(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  pool.require_login();
  Session held = pool.acquire();
  pool.forget_all();
  assert_int_equal(ops.closed, 0);
  assert_false(pool.logged_in());
  { Session s = pool.acquire(); }   // the new generation: a new anchor, logged in again
  assert_int_equal(ops.logins, 2);
  assert_int_equal(ops.opened, 4);
  size_t idle = pool.idle_count();
  { Session old(std::move(held)); }  // a pre-fork handle is dropped, not pooled
  assert_int_equal(pool.idle_count(), idle);
}

// The token service failed: the idle sessions and the anchor are closed at
// once, one in use when it comes back; a new generation logs in again.
void dropped_sessions_are_closed_now_or_when_they_come_back(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  pool.require_login();
  Session held = pool.acquire();
  { Session idle = pool.acquire(); }
  pool.drop_all();
  assert_int_equal(ops.closed, 2);  // the anchor and the idle one
  assert_false(pool.logged_in());
  { Session old(std::move(held)); }
  assert_int_equal(ops.closed, 3);
  assert_int_equal(static_cast<int>(ops.live.size()), 0);
  { Session s = pool.acquire(); }
  assert_int_equal(ops.logins, 2);
}

// A restarted service hands out the old numbers again: a session given up
// whose number is a new session's now is not closed (that would close the new one).
void dropped_session_whose_number_is_in_use_again_is_left_alone(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  Session held = pool.acquire();  // 2 (the anchor is 1)
  CK_SESSION_HANDLE number = held.handle();
  pool.drop_all();
  ops.next = 1;  // the service restarted
  Session again = pool.acquire();  // a new anchor (1) and a working session (2)
  assert_int_equal(again.handle(), number);
  int closed = ops.closed;
  { Session old(std::move(held)); }
  assert_int_equal(ops.closed, closed);
  assert_true(ops.live.count(number) == 1);
}

// Numbers are the module's: another token's pool on the same module may hold it now.
void dropped_session_whose_number_another_pool_holds_is_left_alone(void**) {
  CountingOps ops;
  hsmprov::LiveSessions module_sessions;
  SessionPool first(ops, 16, &module_sessions);
  SessionPool second(ops, 16, &module_sessions);
  Session held = first.acquire();  // 2
  first.drop_all();
  ops.next = 1;
  Session other = second.acquire();  // 1 and 2 again, in the other pool
  assert_int_equal(other.handle(), held.handle());
  int closed = ops.closed;
  { Session old(std::move(held)); }
  assert_int_equal(ops.closed, closed);
}

// A module the application shares with us: a number given up may be the
// application's own session by the time it comes back.
void shared_module_sessions_are_given_up_without_closing(void**) {
  CountingOps ops;
  SessionPool pool(ops);
  Session held = pool.acquire();
  { Session idle = pool.acquire(); }
  pool.drop_all(false);
  { Session old(std::move(held)); }
  assert_int_equal(ops.closed, 0);
}

void threads_share_the_pool(void**) {
  CountingOps ops;
  SessionPool pool(ops, 4);
  pool.require_login();
  std::vector<std::thread> threads;
  std::atomic<int> in_use_twice{0};
  std::mutex mutex;
  std::set<CK_SESSION_HANDLE> in_use;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        Session s = pool.acquire();
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (!in_use.insert(s.handle()).second) ++in_use_twice;
        }
        std::lock_guard<std::mutex> lock(mutex);
        in_use.erase(s.handle());
      }
    });
  }
  for (auto& t : threads) t.join();
  assert_int_equal(in_use_twice, 0);
  assert_int_equal(ops.logins, 1);
  assert_true(pool.idle_count() <= 4);
  assert_int_equal(static_cast<int>(ops.live.size()), static_cast<int>(pool.open_count()));
}

// As SoftHSM and most modules: the login is the application's, and it goes
// when the application's last session on the token closes.
struct LoginGoesWithLastSessionOps : CountingOps {
  bool logged_in = false;

  void close(CK_SESSION_HANDLE h) override {
    CountingOps::close(h);
    std::lock_guard<std::mutex> lock(mutex);
    if (live.empty()) logged_in = false;
  }
  void login(CK_SESSION_HANDLE h) override {
    CountingOps::login(h);
    std::lock_guard<std::mutex> lock(mutex);
    logged_in = true;
  }
  bool sees_private_objects() {
    std::lock_guard<std::mutex> lock(mutex);
    return logged_in;
  }
};

// A recovery (drop_all) may close every session between another thread's
// check that the pool is logged in and its opening a session: that session
// must not be handed out before the next login.
void sessions_opened_while_the_pool_is_dropped_are_logged_in(void**) {
  LoginGoesWithLastSessionOps ops;
  SessionPool pool(ops, 2);
  pool.require_login();
  std::atomic<bool> done{false};
  std::atomic<int> logged_out_uses{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        Session s = pool.acquire();
        if (!ops.sees_private_objects()) ++logged_out_uses;
        s.mark_broken();  // closed on release: the next acquire opens one
      }
    });
  }
  std::thread recoveries([&] {
    for (int i = 0; i < 20000 && !done; ++i) pool.drop_all();
  });
  for (auto& t : workers) t.join();
  done = true;
  recoveries.join();
  assert_int_equal(logged_out_uses, 0);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sessions_are_reused),
      cmocka_unit_test(anchor_is_never_handed_out),
      cmocka_unit_test(concurrent_users_get_distinct_sessions),
      cmocka_unit_test(login_happens_once),
      cmocka_unit_test(failed_login_leaves_pool_logged_out),
      cmocka_unit_test(broken_sessions_are_closed),
      cmocka_unit_test(anchor_keeps_the_login_when_every_working_session_closes),
      cmocka_unit_test(lost_login_is_done_again),
      cmocka_unit_test(lost_anchor_is_replaced),
      cmocka_unit_test(refused_login_is_not_retried_on_every_acquire),
      cmocka_unit_test(fork_reset_forgets_without_closing),
      cmocka_unit_test(dropped_sessions_are_closed_now_or_when_they_come_back),
      cmocka_unit_test(dropped_session_whose_number_is_in_use_again_is_left_alone),
      cmocka_unit_test(dropped_session_whose_number_another_pool_holds_is_left_alone),
      cmocka_unit_test(shared_module_sessions_are_given_up_without_closing),
      cmocka_unit_test(threads_share_the_pool),
      cmocka_unit_test(sessions_opened_while_the_pool_is_dropped_are_logged_in),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
