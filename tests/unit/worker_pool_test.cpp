// PinnedWorkerPool's scheduling: owners are served in turn (one client's
// queue of long jobs cannot starve another), one owner's jobs start in the
// order submitted, the total and per-owner bounds refuse, Stop drains.
// With one worker and the worker held by a gate job, the order in which jobs
// start is exactly the order the pool chose.
#include "daemon/worker_pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ttscache {
namespace {

using ::testing::ElementsAre;

// Holds a worker until Open(): submit it first, and the jobs submitted after
// it queue up behind it.
class Gate {
 public:
  std::function<void()> Job() {
    return [this] {
      started_.set_value();
      open_.get_future().wait();
    };
  }
  void WaitStarted() { started_.get_future().wait(); }
  void Open() { open_.set_value(); }

 private:
  std::promise<void> started_;
  std::promise<void> open_;
};

// The names of the jobs, in the order they started.
class StartOrder {
 public:
  std::function<void()> Job(std::string name) {
    return [this, name] {
      std::lock_guard lock(mutex_);
      names_.push_back(name);
    };
  }
  std::vector<std::string> names() {
    std::lock_guard lock(mutex_);
    return names_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> names_;
};

constexpr uint64_t kGateOwner = 99, kA = 1, kB = 2, kC = 3;

TEST(WorkerPool, AnotherOwnersJobDoesNotWaitBehindAQueueOfLongJobs) {
  PinnedWorkerPool pool(1, 100, {});
  Gate gate;
  StartOrder order;
  ASSERT_TRUE(pool.TrySubmit(kGateOwner, gate.Job()));
  gate.WaitStarted();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(pool.TrySubmit(kA, order.Job("a" + std::to_string(i))));
  ASSERT_TRUE(pool.TrySubmit(kB, order.Job("b")));
  gate.Open();
  pool.Stop();
  std::vector<std::string> names = order.names();
  ASSERT_EQ(names.size(), 21u);
  // One job of A started before B submitted; B's is next (a FIFO pool ran it 21st).
  EXPECT_EQ(names[1], "b") << "B's job started at position "
                           << std::find(names.begin(), names.end(), "b") - names.begin() + 1;
}

TEST(WorkerPool, OwnersTakeTurnsAndEachOwnersJobsKeepTheirOrder) {
  PinnedWorkerPool pool(1, 100, {});
  Gate gate;
  StartOrder order;
  ASSERT_TRUE(pool.TrySubmit(kGateOwner, gate.Job()));
  gate.WaitStarted();
  for (const char* job : {"a0", "a1", "b0", "a2", "c0", "b1"}) {
    uint64_t owner = job[0] == 'a' ? kA : job[0] == 'b' ? kB : kC;
    ASSERT_TRUE(pool.TrySubmit(owner, order.Job(job)));
  }
  EXPECT_EQ(pool.queued(), 6u);
  gate.Open();
  pool.Stop();
  EXPECT_THAT(order.names(), ElementsAre("a0", "b0", "c0", "a1", "b1", "a2"));
}

TEST(WorkerPool, AnOwnerThatComesBackQueuesBehindTheOthers) {
  PinnedWorkerPool pool(1, 100, {});
  Gate gate;
  StartOrder order;
  ASSERT_TRUE(pool.TrySubmit(kGateOwner, gate.Job()));
  gate.WaitStarted();
  ASSERT_TRUE(pool.TrySubmit(kA, order.Job("a0")));
  ASSERT_TRUE(pool.TrySubmit(kB, order.Job("b0")));
  ASSERT_TRUE(pool.TrySubmit(kB, order.Job("b1")));
  gate.Open();
  // The gate's owner queues again, behind A and B.
  ASSERT_TRUE(pool.TrySubmit(kGateOwner, order.Job("g")));
  pool.Stop();
  std::vector<std::string> names = order.names();
  EXPECT_EQ(names.front(), "a0");
  EXPECT_LT(std::find(names.begin(), names.end(), "b0"),
            std::find(names.begin(), names.end(), "b1"));
  EXPECT_EQ(names.size(), 4u);
}

TEST(WorkerPool, RefusesBeyondTheTotalAndThePerOwnerBound) {
  PinnedWorkerPool pool(1, 4, {}, 2);
  Gate gate;
  ASSERT_TRUE(pool.TrySubmit(kGateOwner, gate.Job()));
  gate.WaitStarted();
  std::atomic<int> ran = 0;
  auto count = [&ran] { ++ran; };
  EXPECT_TRUE(pool.TrySubmit(kA, count));
  EXPECT_TRUE(pool.TrySubmit(kA, count));
  EXPECT_FALSE(pool.TrySubmit(kA, count)) << "A's share (2) is full";
  EXPECT_TRUE(pool.TrySubmit(kB, count));
  EXPECT_TRUE(pool.TrySubmit(kC, count));
  EXPECT_FALSE(pool.TrySubmit(kB, count)) << "the total (4) is full";
  EXPECT_FALSE(pool.TrySubmit(kGateOwner + 1, count)) << "the total (4) is full";
  EXPECT_EQ(pool.queued(), 4u);
  gate.Open();
  pool.Stop();
  EXPECT_EQ(ran, 4);
}

TEST(WorkerPool, StopRunsEveryQueuedJobThenRefuses) {
  PinnedWorkerPool pool(2, 100, {});
  Gate gate1, gate2;
  ASSERT_TRUE(pool.TrySubmit(kA, gate1.Job()));
  ASSERT_TRUE(pool.TrySubmit(kB, gate2.Job()));
  gate1.WaitStarted();
  gate2.WaitStarted();
  std::atomic<int> ran = 0;
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(pool.TrySubmit(i % 3, [&ran] { ++ran; }));
  // Stop while every job is still queued: it must wait for them all.
  std::thread stopper([&pool] { pool.Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pool.TrySubmit(kC, [] {})) << "a stopping pool takes no new jobs";
  gate1.Open();
  gate2.Open();
  stopper.join();
  EXPECT_EQ(ran, 30);
  EXPECT_FALSE(pool.TrySubmit(kA, [] {}));
}

// A long job's next slice (Continue) waits behind the jobs of other owners
// queued meanwhile, and is taken even when the queue is full or stopping.
TEST(WorkerPool, AContinuedJobWaitsItsTurnAndIsNeverRefused) {
  PinnedWorkerPool pool(1, 2, {});
  Gate gate;
  StartOrder order;
  ASSERT_TRUE(pool.TrySubmit(kGateOwner, gate.Job()));
  gate.WaitStarted();
  ASSERT_TRUE(pool.TrySubmit(kB, order.Job("b0")));
  ASSERT_TRUE(pool.TrySubmit(kC, order.Job("c0")));
  EXPECT_FALSE(pool.TrySubmit(kB, order.Job("refused"))) << "the total (2) is full";
  pool.Continue(kA, order.Job("a slice 2"));  // admitted earlier: queued anyway
  std::thread stopper([&] { pool.Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pool.Continue(kA, order.Job("a slice 3"));  // while stopping: still run
  gate.Open();
  stopper.join();
  EXPECT_THAT(order.names(), ElementsAre("b0", "c0", "a slice 2", "a slice 3"));
}

// Many threads submitting for many owners to several workers: every accepted
// job runs exactly once (and, under the TSan build, without a data race).
TEST(WorkerPool, ConcurrentSubmittersEveryAcceptedJobRunsOnce) {
  constexpr int kThreads = 4, kJobsPerThread = 2000;
  PinnedWorkerPool pool(3, 64, {}, 16);
  std::atomic<int> ran = 0, accepted = 0;
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      for (int i = 0; i < kJobsPerThread; ++i) {
        if (pool.TrySubmit(random() % 8, [&ran] { ++ran; })) {
          ++accepted;
        } else {
          std::this_thread::yield();  // BUSY: a client would retry later
        }
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  pool.Stop();
  EXPECT_EQ(ran, accepted);
  EXPECT_GT(accepted, 0);
  EXPECT_EQ(pool.queued(), 0u);
}

}  // namespace
}  // namespace ttscache
