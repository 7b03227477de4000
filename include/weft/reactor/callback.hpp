// weft/reactor/callback.hpp — public header; includes only the standard library.
//
// weft::Callback is the loop's unit of work: a move-only `void()` function
// object that stores small callables inline. Every call_soon, timer and I/O
// wake-up carries one, so a lambda capturing a few pointers costs no
// allocation; larger callables go to the heap.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace weft {

class Callback {
 public:
  // Callables up to this size (and alignment of max_align_t) are stored
  // inline; 48 bytes holds a lambda capturing six pointers.
  static constexpr std::size_t kInlineSize = 48;

  Callback() noexcept = default;

  template <class F, class D = typename std::decay<F>::type,
            class = typename std::enable_if<!std::is_same<D, Callback>::value>::type>
  Callback(F&& f) {  // NOLINT: implicit on purpose, as std::function
    emplace<D>(std::forward<F>(f));
  }

  Callback(Callback&& other) noexcept { take(other); }

  Callback& operator=(Callback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }

  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;

  ~Callback() { reset(); }

  explicit operator bool() const noexcept { return invoke_ != nullptr; }

  // Calls the stored function. Precondition: *this holds one.
  void operator()() { invoke_(buf_); }

  // Destroys the stored function, leaving *this empty.
  void reset() noexcept {
    if (manage_ != nullptr) manage_(Op::kDestroy, buf_, nullptr);
    invoke_ = nullptr;
    manage_ = nullptr;
  }

 private:
  enum class Op { kMove, kDestroy };
  using Invoke = void (*)(void*);
  // Moves (src → dst, destroying src) or destroys. Null when the stored
  // object is inline and trivially copyable: then a move is a memcpy and
  // destruction does nothing, which keeps the loop's hot path branch-cheap.
  using Manage = void (*)(Op, void* self, void* dst);

  template <class D>
  using Inline = std::integral_constant<
      bool, sizeof(D) <= kInlineSize && alignof(D) <= alignof(std::max_align_t) &&
                std::is_nothrow_move_constructible<D>::value>;

  template <class D, class F>
  void emplace(F&& f) {
    construct<D>(std::forward<F>(f), Inline<D>());
  }

  template <class D, class F>
  void construct(F&& f, std::true_type /*inline*/) {
    ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
    invoke_ = [](void* p) { (*static_cast<D*>(p))(); };
    manage_ = std::is_trivially_copyable<D>::value ? nullptr : &manage_inline<D>;
  }

  template <class D, class F>
  void construct(F&& f, std::false_type /*on the heap*/) {
    D* heap = new D(std::forward<F>(f));
    std::memcpy(buf_, &heap, sizeof heap);
    invoke_ = [](void* p) { (**static_cast<D**>(p))(); };
    manage_ = &manage_heap<D>;
  }

  template <class D>
  static void manage_inline(Op op, void* self, void* dst) {
    D* obj = static_cast<D*>(self);
    if (op == Op::kMove) ::new (dst) D(std::move(*obj));
    obj->~D();
  }

  template <class D>
  static void manage_heap(Op op, void* self, void* dst) {
    if (op == Op::kMove) {
      std::memcpy(dst, self, sizeof(D*));
    } else {
      delete *static_cast<D**>(self);
    }
  }

  void take(Callback& other) noexcept {
    if (other.manage_ == nullptr) {
      // The whole buffer is copied, including bytes past a small object that
      // were never written: copying indeterminate unsigned chars is allowed,
      // and cheaper than tracking the object's size.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
      std::memcpy(buf_, other.buf_, kInlineSize);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    } else {
      other.manage_(Op::kMove, other.buf_, buf_);
    }
    invoke_ = other.invoke_;
    manage_ = other.manage_;
    other.invoke_ = nullptr;
    other.manage_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buf_[kInlineSize];
  Invoke invoke_ = nullptr;
  Manage manage_ = nullptr;
};

}  // namespace weft
