// A throwaway PostgreSQL server for tests, started on 127.0.0.1 in a temporary folder; as
// root it runs as the postgres user (initdb refuses root). Stopped and removed at scope exit.
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "test_util.h"

namespace medlake::testing {

inline std::string PgBin() {
  namespace fs = std::filesystem;
  for (const char* v : {"17", "16", "15", "14", "13"}) {
    std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
    if (fs::exists(dir + "/pg_ctl")) return dir;
  }
  return "";
}

class PostgresServer {
 public:
  bool Start() {
    namespace fs = std::filesystem;
    bin_ = PgBin();
    if (bin_.empty()) return false;
    installed_ = true;
    dir_ = (fs::temp_directory_path() / ("medlake-pg-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = FreeLoopbackPort();
    if (::geteuid() == 0) {
      struct passwd* pw = ::getpwnam("postgres");
      if (!pw || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        failure_ = "no postgres user to run the server as";
        return false;
      }
      as_ = "runuser -u postgres -- ";
    }
    if (!Run(bin_ + "/initdb -D " + dir_ + "/data -A trust -U postgres > " + dir_ +
             "/initdb.log 2>&1")) {
      failure_ = "initdb failed: " + ReadText(dir_ + "/initdb.log");
      return false;
    }
    std::string opts =
        "-p " + std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=127.0.0.1";
    started_ = Run(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -o '" + opts +
                   "' start > /dev/null 2>&1");
    if (!started_) failure_ = "the server did not start: " + ReadText(dir_ + "/server.log");
    return started_;
  }
  bool installed() const { return installed_; }
  const std::string& failure() const { return failure_; }
  const char* name() const { return "PostgreSQL"; }
  ~PostgresServer() {
    namespace fs = std::filesystem;
    if (started_) Run(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop > /dev/null 2>&1");
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Url() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }

 private:
  bool Run(const std::string& cmd) { return std::system((as_ + cmd).c_str()) == 0; }
  std::string bin_, dir_, as_;
  int port_ = 0;
  bool started_ = false;
  bool installed_ = false;
  std::string failure_;
};

}  // namespace medlake::testing
