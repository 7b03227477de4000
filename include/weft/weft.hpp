// weft/weft.hpp — public umbrella header: everything a user needs.
#pragma once

#include "weft/version.hpp"
#include "weft/reactor/loop.hpp"
#include "weft/fiber/barriers.hpp"
#include "weft/fiber/channels.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/futures.hpp"
#include "weft/fiber/locks.hpp"
#include "weft/fiber/queues.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/semaphores.hpp"
#include "weft/fiber/taskgroups.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/threads.hpp"
#include "weft/fiber/timeouts.hpp"
#include "weft/fiber/waiting.hpp"
