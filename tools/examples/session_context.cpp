// "Async Context Managers with async with": `async with ClientSession() as
// session` and `async with session.get(url) as response` become scopes. The
// session's destructor closes its connections; the response's releases its
// connection. The first 100 characters of the page are printed.
//   Usage: example_session_context [URL]   (default: https://example.com)
#include <weft/weft.hpp>

#include <cstdio>
#include <string>

std::string fetch_url(const std::string& url) {
  weft::http::ClientSession session;          // async with aiohttp.ClientSession() as session:
  weft::http::Response response = session.get(url);  // async with session.get(url) as response:
  return response.text();                     // return await response.text()
}

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "https://example.com";
  return weft::run([&] {
    const std::string content = fetch_url(url);
    std::printf("%s\n", content.substr(0, 100).c_str());  // print(content[:100])
    return 0;
  });
}
