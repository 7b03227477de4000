// weft/http/headers.hpp — public header; includes only weft/export.hpp and
// the standard library.
//
// weft::http::Headers: HTTP header fields as aiohttp hands them out, a
// case-insensitive multidict (multidict.CIMultiDict): fields keep their
// wire order, names keep the case they were received or given in, and a
// name may appear more than once ("Set-Cookie", "Via"). Lookups compare
// names ASCII case-insensitively, as RFC 9110 section 5.1 requires.
//
//     aiohttp / multidict                  weft
//     resp.headers['Content-Type']         resp.headers().get("content-type")
//     resp.headers.get('X', 'none')        headers.get("X", "none")
//     resp.headers.getall('Set-Cookie')    headers.get_all("Set-Cookie")
//     'ETag' in resp.headers               headers.contains("ETag")
//     h.add('Via', 'a')                    h.add("Via", "a")
//     h['Accept'] = '*/*'                  h.set("Accept", "*/*")
//     del h['Accept']                      h.erase("Accept")
//     for k, v in h.items()                for (const auto& kv : h)
//
// Lookups are linear scans: a response has a few dozen fields, where a scan
// of a contiguous vector beats any hashed or ordered index.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "weft/export.hpp"

namespace weft {
namespace http {

// ASCII case-insensitive equality of two header names (or tokens).
WEFT_API bool iequals(const std::string& a, const std::string& b) noexcept;
WEFT_API bool iequals(const char* a, std::size_t a_size, const char* b, std::size_t b_size) noexcept;

// Invariant: fields() holds every field in insertion (wire) order; nothing
// is ever sorted, merged or re-cased.
class WEFT_API Headers {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  Headers() = default;
  Headers(std::initializer_list<value_type> fields) : fields_(fields) {}
  explicit Headers(std::vector<value_type> fields) : fields_(std::move(fields)) {}

  // multidict add(): appends a field, keeping any of the same name.
  void add(std::string name, std::string value);
  // multidict __setitem__: replaces every field named `name` by one field,
  // at the position of the first one (appended if there was none).
  void set(const std::string& name, std::string value);
  // multidict popall() without the values: removes every field named `name`;
  // returns how many there were.
  std::size_t erase(const std::string& name);

  // The value of the first field named `name`, or null.
  const std::string* find(const std::string& name) const noexcept;
  bool contains(const std::string& name) const noexcept { return find(name) != nullptr; }
  // The value of the first field named `name`, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = std::string()) const;
  // Every value of the fields named `name`, in order (multidict getall()).
  std::vector<std::string> get_all(const std::string& name) const;
  std::size_t count(const std::string& name) const noexcept;

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  const std::vector<value_type>& fields() const noexcept { return fields_; }

  // Equal when both hold the same fields in the same order, names compared
  // case-insensitively and values exactly.
  friend WEFT_API bool operator==(const Headers& a, const Headers& b);
  friend bool operator!=(const Headers& a, const Headers& b) { return !(a == b); }

 private:
  std::vector<value_type> fields_;
};

}  // namespace http
}  // namespace weft
