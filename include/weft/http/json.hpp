// weft/http/json.hpp — public header: the HTTP client with nlohmann-json
// complete, for code that calls Response::json() or sends JSON bodies
// (aiohttp's resp.json() and json= argument).
#pragma once

#include <nlohmann/json.hpp>

#include "weft/http/client.hpp"
