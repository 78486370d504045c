// cockroach16167.go (CockroachDB #16167): execParsed holds the executor's
// RWMutex for reading (through a Cond whose Locker is the RWMutex's
// RLocker) and a callee takes it for reading again; Start's writer arriving
// in between blocks the second RLock, and waits for the first reader
// forever.
#include <mutex>
#include <shared_mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

// Go: sync.RWMutex.RLocker(), the Locker whose Lock is RLock.
struct rlocker_cockroach16167 {
  stray::RWMutex* rw;
  void lock() { rw->lock_shared(); }
  void unlock() { rw->unlock_shared(); }
};

// Go: sync.NewCond(rw.RLocker()). stray::Cond binds a Mutex; the case only
// uses the Cond's L (it never waits), so this stands for it.
struct Cond_cockroach16167 {
  rlocker_cockroach16167 L;
};

struct Executor_cockroach16167;
struct Session_cockroach16167;

void runTxnAttempt_cockroach16167(Executor_cockroach16167* e, Session_cockroach16167* session);

struct PreparedStatements_cockroach16167 {
  Session_cockroach16167* session = nullptr;
  void New(Executor_cockroach16167* e);
};

struct Session_cockroach16167 {
  PreparedStatements_cockroach16167 PreparedStatements;
  void resetForBatch(Executor_cockroach16167* e);
};

struct Executor_cockroach16167 {
  Cond_cockroach16167* systemConfigCond = nullptr;
  stray::RWMutex systemConfigMu;  // L1

  void Start() { updateSystemConfig(); }

  void execParsed(Session_cockroach16167* session) {
    systemConfigCond->L.lock();  // the same as systemConfigMu.lock_shared()
    stray::yield();
    std::lock_guard<rlocker_cockroach16167> l(systemConfigCond->L, std::adopt_lock);
    runTxnAttempt_cockroach16167(this, session);
  }

  void execStmtsInCurrentTxn(Session_cockroach16167* session) { execStmtInOpenTxn(session); }
  void execStmtInOpenTxn(Session_cockroach16167* session) { session->PreparedStatements.New(this); }
  void Prepare(Session_cockroach16167* session) { session->resetForBatch(this); }
  void getDatabaseCache() { std::shared_lock<stray::RWMutex> l(systemConfigMu); }

  void updateSystemConfig() {
    systemConfigMu.lock();
    stray::yield();
    systemConfigMu.unlock();
  }
};

void PreparedStatements_cockroach16167::New(Executor_cockroach16167* e) { e->Prepare(session); }
void Session_cockroach16167::resetForBatch(Executor_cockroach16167* e) { e->getDatabaseCache(); }
void runTxnAttempt_cockroach16167(Executor_cockroach16167* e, Session_cockroach16167* session) {
  e->execStmtsInCurrentTxn(session);
}

void NewExectorAndSession_cockroach16167(Executor_cockroach16167** e, Session_cockroach16167** s) {
  auto* session = new Session_cockroach16167;
  session->PreparedStatements = PreparedStatements_cockroach16167{session};
  *e = new Executor_cockroach16167;
  *s = session;
}

void Cockroach16167() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {  // G1
      Executor_cockroach16167* e;
      Session_cockroach16167* s;
      NewExectorAndSession_cockroach16167(&e, &s);
      e->systemConfigCond = new Cond_cockroach16167{{&e->systemConfigMu}};
      stray::go(&Executor_cockroach16167::Start, e);  // G2
      e->execParsed(s);
    });
  }
}

constexpr const char* kG1 =
    R"(Cockroach16167\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.RWMutex\.RLock\])";
constexpr const char* kG2 = R"(Executor_cockroach16167::Start\(\)[^:]* \[sync\.RWMutex\.Lock\])";

LEAK_CASE({.name = "Cockroach16167",
           .kind = Kind::flaky,
           .run = Cockroach16167,
           .expected = {kG1, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
