// fiber/exceptions.cpp — descriptions of exceptions for messages.
#include "weft/fiber/exceptions.hpp"

namespace weft {

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "no exception";
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError& e) {
    return std::string("CancelledError: ") + e.what();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

std::string ExceptionGroup::describe(const std::string& message, const std::vector<std::exception_ptr>& errors) {
  std::string text = message + " (" + std::to_string(errors.size()) +
                     (errors.size() == 1 ? " sub-exception)" : " sub-exceptions)");
  for (const std::exception_ptr& e : errors) text += "\n  - " + describe_exception(e);
  return text;
}

}  // namespace weft
