// tools/bench/stream_workloads.cpp — the stream workloads of BENCHMARKS.md:
// echo.
#include <string>
#include <vector>

#include "tools/bench/report.hpp"
#include "weft/weft.hpp"
#include "weft/fiber/servers.hpp"
#include "weft/fiber/streams.hpp"

namespace weft_bench {

// A TCP echo server and 50 clients in one loop on 127.0.0.1; each client
// makes 2,000 round trips of a 64-byte message. The connections are opened
// before the clock starts; every echoed message is checked.
void run_echo() {
  constexpr int kClients = 50;
  constexpr int kRounds = 2000;
  constexpr std::size_t kMessage = 64;
  long round_trips = 0;
  long mismatches = 0;
  double wall = 0;
  weft::run([&] {
    weft::ServerOptions options;
    options.backlog = 1024;
    weft::Server server = weft::start_server(
        [](weft::Stream stream) {
          char buffer[4096];
          for (;;) {
            const std::size_t n = stream.read(buffer, sizeof buffer);
            if (n == 0) return;
            stream.write(buffer, n);
            stream.drain();
          }
        },
        "127.0.0.1", 0, options);
    std::vector<weft::Stream> connections;
    for (int i = 0; i < kClients; ++i) connections.push_back(weft::open_connection("127.0.0.1", server.port()));

    const double t0 = now_s();
    std::vector<weft::Task<void>> clients;
    for (int i = 0; i < kClients; ++i) {
      weft::Stream* stream = &connections[static_cast<std::size_t>(i)];
      clients.push_back(weft::create_task([stream, i, &round_trips, &mismatches] {
        char message[kMessage];
        char echoed[kMessage];
        for (std::size_t j = 0; j < kMessage; ++j) message[j] = static_cast<char>('a' + (i + j) % 26);
        for (int round = 0; round < kRounds; ++round) {
          message[0] = static_cast<char>(round);
          stream->write(message, kMessage);
          stream->read_exactly(echoed, kMessage);
          if (std::char_traits<char>::compare(message, echoed, kMessage) != 0) ++mismatches;
          ++round_trips;
        }
      }));
    }
    for (auto& client : clients) client.get();
    wall = now_s() - t0;
    connections.clear();
    server.close();
    server.wait_closed();
  });
  if (round_trips != long{kClients} * kRounds || mismatches != 0) {
    fail("echo", std::to_string(round_trips) + " round trips, " + std::to_string(mismatches) + " mismatched");
  }
  bench_line("echo", {{"rtt_per_s", static_cast<double>(round_trips) / wall}});
}

}  // namespace weft_bench
