// FileSyncer: makes written files durable on background threads. A thread that writes a
// segment hands its descriptor over and goes on encoding the next one while the disk works;
// an fsync blocked that thread (and left a core idle) for 0.5-3 ms per segment before.
//
// The durability protocol does not change: a commit calls Wait(), which returns only when every
// file handed over is fsynced and closed, before the catalog names them (docs/format.md).
//
// Thread safety: Add and Wait may be called from many threads at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "medlake/status.h"

namespace medlake::store {

class FileSyncer {
 public:
  explicit FileSyncer(int threads = 2);
  // Syncs and closes what is still queued (its errors are lost: call Wait first).
  ~FileSyncer();
  FileSyncer(const FileSyncer&) = delete;
  FileSyncer& operator=(const FileSyncer&) = delete;

  // Takes `fd` (a file fully written through it; `path` names it in errors): it is fsynced and
  // closed on a syncer thread. Blocks while kMaxQueued files wait, so that a disk slower than
  // the writers holds them back instead of piling up open descriptors.
  void Add(int fd, std::string path);
  // Blocks until no file waits or is being synced (every file added before the call, and any
  // added meanwhile, is durable and closed). Returns the first failure since the previous
  // Wait, naming the file.
  Status Wait();

  static constexpr size_t kMaxQueued = 64;

 private:
  struct File {
    int fd;
    std::string path;
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable work_cv_;  // a file was queued, or stopping
  std::condition_variable done_cv_;  // a file was synced (Wait, and Add waiting for room)
  std::deque<File> queue_;
  size_t in_flight_ = 0;  // taken from the queue, not yet synced
  Status error_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace medlake::store
