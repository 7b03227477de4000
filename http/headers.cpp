// Headers: a case-insensitive multidict in wire order (see
// include/weft/http/headers.hpp).
#include "weft/http/headers.hpp"

#include <algorithm>

namespace weft {
namespace http {
namespace {

inline unsigned char ascii_lower(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

}  // namespace

bool iequals(const char* a, std::size_t a_size, const char* b, std::size_t b_size) noexcept {
  if (a_size != b_size) return false;
  for (std::size_t i = 0; i < a_size; ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) != ascii_lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool iequals(const std::string& a, const std::string& b) noexcept {
  return iequals(a.data(), a.size(), b.data(), b.size());
}

void Headers::add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::set(const std::string& name, std::string value) {
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&name](const value_type& field) { return iequals(field.first, name); });
  if (first == fields_.end()) {
    fields_.emplace_back(name, std::move(value));
    return;
  }
  first->first = name;
  first->second = std::move(value);
  fields_.erase(std::remove_if(first + 1, fields_.end(),
                               [&name](const value_type& field) { return iequals(field.first, name); }),
                fields_.end());
}

std::size_t Headers::erase(const std::string& name) {
  const std::size_t before = fields_.size();
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [&name](const value_type& field) { return iequals(field.first, name); }),
                fields_.end());
  return before - fields_.size();
}

const std::string* Headers::find(const std::string& name) const noexcept {
  for (const value_type& field : fields_) {
    if (iequals(field.first, name)) return &field.second;
  }
  return nullptr;
}

std::string Headers::get(const std::string& name, const std::string& fallback) const {
  const std::string* value = find(name);
  return value != nullptr ? *value : fallback;
}

std::vector<std::string> Headers::get_all(const std::string& name) const {
  std::vector<std::string> values;
  for (const value_type& field : fields_) {
    if (iequals(field.first, name)) values.push_back(field.second);
  }
  return values;
}

std::size_t Headers::count(const std::string& name) const noexcept {
  return static_cast<std::size_t>(std::count_if(
      fields_.begin(), fields_.end(), [&name](const value_type& field) { return iequals(field.first, name); }));
}

bool operator==(const Headers& a, const Headers& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!iequals(a.fields_[i].first, b.fields_[i].first) || a.fields_[i].second != b.fields_[i].second) {
      return false;
    }
  }
  return true;
}

}  // namespace http
}  // namespace weft
