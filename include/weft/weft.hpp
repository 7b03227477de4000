// weft/weft.hpp — public umbrella header: everything a user needs.
#pragma once

#include "weft/version.hpp"
#include "weft/reactor/loop.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/futures.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
