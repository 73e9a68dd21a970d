#include "store/file_syncer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace medlake::store {

FileSyncer::FileSyncer(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

FileSyncer::~FileSyncer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FileSyncer::Add(int fd, std::string path) {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
  queue_.push_back({fd, std::move(path)});
  work_cv_.notify_one();
}

Status FileSyncer::Wait() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return queue_.empty() && in_flight_ == 0; });
  Status s = std::move(error_);
  error_ = Status::Ok();
  return s;
}

void FileSyncer::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    // On stop, the queue is still drained: every descriptor is closed.
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    File f = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    lock.unlock();
    Status s;
    if (::fsync(f.fd) != 0) s = IoError("cannot sync " + f.path + ": " + std::strerror(errno));
    if (::close(f.fd) != 0 && s.ok()) {
      s = IoError("cannot close " + f.path + ": " + std::strerror(errno));
    }
    lock.lock();
    --in_flight_;
    if (!s.ok() && error_.ok()) error_ = std::move(s);
    done_cv_.notify_all();
  }
}

}  // namespace medlake::store
