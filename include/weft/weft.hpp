// weft/weft.hpp — public umbrella header: everything a user needs.
#pragma once

#include "weft/version.hpp"
#include "weft/reactor/loop.hpp"
