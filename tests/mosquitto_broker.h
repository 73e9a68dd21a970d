// A real mosquitto broker on loopback for tests (MQTT device readings, watch alerts).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "test_util.h"

namespace medlake::testing {

// A mosquitto broker on 127.0.0.1 with its own configuration (DESIGN.md: no inflight or
// queue limits, so bursts are not dropped). Stopped at scope exit.
class MosquittoBroker {
 public:
  // Starts the broker with its config in `dir`, on a port the kernel says is free; false when
  // mosquitto is not installed (installed() false) or does not come up (failure() says why).
  bool Start(const std::string& dir) {
    if (::access("/usr/sbin/mosquitto", X_OK) != 0) return false;
    installed_ = true;
    port_ = FreeLoopbackPort();
    if (port_ == 0) {
      failure_ = "no free loopback port";
      return false;
    }
    config_ = dir + "/mosquitto.conf";
    WriteText(config_, "listener " + std::to_string(port_) +
                           " 127.0.0.1\nallow_anonymous true\n"
                           "max_inflight_messages 0\nmax_queued_messages 0\npersistence false\n");
    return Launch();
  }
  // Stops the broker and starts it again on the same port (a broker restart: without
  // persistence it forgets every session and subscription).
  bool Restart() {
    Kill();
    return Launch();
  }
  bool installed() const { return installed_; }
  const std::string& failure() const { return failure_; }
  const char* name() const { return "mosquitto"; }
  ~MosquittoBroker() { Kill(); }
  uint16_t port() const { return port_; }

 private:
  bool Launch() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/usr/sbin/mosquitto", "mosquitto", "-c", config_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {  // wait until it accepts connections
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    failure_ =
        "mosquitto did not accept connections on port " + std::to_string(port_) + " within 5 s";
    return false;
  }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool installed_ = false;
  std::string failure_;
  std::string config_;
};

}  // namespace medlake::testing
