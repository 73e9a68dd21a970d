// GroupCommitQueue: items pushed by many threads (connections, the MQTT loop) and committed in
// batches by one thread. Items that arrive while a batch is being made durable form the next
// batch, so one inbox sync serves them all (group commit). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace medlake::server {

template <typename T>
class GroupCommitQueue {
 public:
  // Queues `item`; false (item dropped, never acknowledged) once Stop() was called.
  bool Push(T item) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      queue_.push_back(std::move(item));
    }
    cv_.notify_one();
    return true;
  }

  // The committer loop: `commit(batch)` for up to `max_batch` items at a time, `on_idle()`
  // after each batch and at least every 200 ms without items. Returns after Stop(), once
  // everything queued before it has been committed.
  template <typename Commit, typename Idle>
  void Run(size_t max_batch, Commit commit, Idle on_idle) {
    for (;;) {
      std::vector<T> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(200),
                     [&] { return !queue_.empty() || stopping_; });
        while (!queue_.empty() && batch.size() < max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (batch.empty() && stopping_) return;
      }
      if (!batch.empty()) commit(batch);
      on_idle();
    }
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> queue_;
  bool stopping_ = false;
};

}  // namespace medlake::server
