// "Asynchronous HTTP Requests with aiohttp: Fetch Multiple URLs": one
// session, one task per URL, gather in the order given; the first 100
// characters of each page are printed.
//   Usage: example_fetch_all [URL...]
//   (default: https://example.com https://example.org https://example.net)
#include <weft/weft.hpp>

#include <cstdio>
#include <string>
#include <vector>

std::string fetch(weft::http::ClientSession& session, const std::string& url) {
  return session.get(url).text();  // async with session.get(url) as response: return await response.text()
}

std::vector<std::string> fetch_all(const std::vector<std::string>& urls) {
  weft::http::ClientSession session;
  std::vector<weft::Task<std::string>> tasks;
  for (const std::string& url : urls) {
    tasks.push_back(weft::create_task([&session, url] { return fetch(session, url); }));
  }
  return weft::gather(tasks);  // await asyncio.gather(*tasks)
}

int main(int argc, char** argv) {
  std::vector<std::string> urls(argv + 1, argv + argc);
  if (urls.empty()) urls = {"https://example.com", "https://example.org", "https://example.net"};
  return weft::run([&] {
    for (const std::string& content : fetch_all(urls)) std::printf("%s\n", content.substr(0, 100).c_str());
    return 0;
  });
}
