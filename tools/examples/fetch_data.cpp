// "Fetch data from multiple web APIs": the JSON of several URLs fetched
// concurrently through one session, then printed in order.
//   Usage: example_fetch_data [URL...]
//   (default: https://api.example.com/data1 .. data3)
#include <weft/http/json.hpp>
#include <weft/weft.hpp>

#include <iostream>
#include <string>
#include <vector>

nlohmann::json fetch_data(weft::http::ClientSession& session, const std::string& url) {
  return session.get(url).json();  // async with session.get(url) as response: return await response.json()
}

int main(int argc, char** argv) {
  std::vector<std::string> urls(argv + 1, argv + argc);
  if (urls.empty()) {
    urls = {"https://api.example.com/data1", "https://api.example.com/data2", "https://api.example.com/data3"};
  }
  return weft::run([&] {
    weft::http::ClientSession session;
    std::vector<weft::Task<nlohmann::json>> tasks;
    for (const std::string& url : urls) {
      tasks.push_back(weft::create_task([&session, url] { return fetch_data(session, url); }));
    }
    for (const nlohmann::json& result : weft::gather(tasks)) std::cout << result << "\n";  // print(result)
    return 0;
  });
}
