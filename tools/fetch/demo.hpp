// tools/fetch/demo.hpp — weft-fetch with no arguments at all: the seeds'
// motivating example, measured on the spot (DESIGN.md, "Command-line tools").
#pragma once

namespace weft_fetch {

// Starts a DemoServer whose responses each take 100 ms, fetches 20 URLs
// from it one by one and then concurrently (through fetch_all(), as any
// weft-fetch run), and prints
//
//     sequential: 20 requests in 2012 ms
//     concurrent: 20 requests in 104 ms
//     speed-up: 19.3×
//
// Failures, if any, are described on stderr. Returns the exit status: 0 if
// every fetch succeeded, 1 otherwise.
int run_demo();

}  // namespace weft_fetch
