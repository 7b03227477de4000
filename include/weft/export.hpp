// weft/export.hpp — public header; includes nothing.
//
// WEFT_API marks what libweft exports: the library is compiled with
// -fvisibility=hidden (Meson's gnu_symbol_visibility : 'hidden'), so only
// the classes and functions marked here are in the dynamic symbol table of
// libweft.so; everything else (the reactor's epoll binding, the fiber
// stacks, llhttp) stays internal to it, as with libuv's UV_EXTERN.
//
// What carries it, and why:
//   - every class declared in include/weft/ that has members defined in the
//     library (its out-of-line functions, its vtable, its static data), as
//     `class WEFT_API Loop`;
//   - every exception class, even one defined wholly in its header, as
//     `class WEFT_API TimeoutError : public std::runtime_error`: its
//     typeinfo is then one object shared by the library and the program,
//     so an exception thrown inside libweft is caught by type outside it;
//   - every free function declared in include/weft/ and defined in the
//     library, friends included, as `WEFT_API Loop& get_running_loop();`;
//   - the detail:: classes and functions the headers' templates and inline
//     functions call (FutureCore, TaskCore, QueueBase, ...): they are part
//     of the ABI even though users never name them.
// Classes and functions declared only in the library's own headers
// (reactor/, fiber/, http/) are never marked.
//
// WEFT_LOCAL hides a class nested in an exported one, which would otherwise
// be exported with it: `struct WEFT_LOCAL Impl;` inside `class WEFT_API Loop`
// keeps the loop's implementation, defined in reactor/, out of the ABI.
//
// The same headers serve the static library, where the attribute changes
// nothing for a program; a user linking libweft.a into a shared library of
// its own re-exports weft's API from it (and nothing else of weft's).
// weft is Linux-only: GCC and Clang are the compilers it supports.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#define WEFT_LOCAL __attribute__((visibility("hidden")))
#else
#define WEFT_API
#define WEFT_LOCAL
#endif
