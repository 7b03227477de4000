// Tests of Channel: rendezvous and buffered sends and receives, close() and
// the end of a channel, range-for, move-only items, the cancellation races
// of a handoff (made deterministic), FIFO fairness, where calls may come
// from, a channel destroyed under parked tasks, and many-task stress runs.
#include "weft/fiber/channels.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fiber/sanitizer.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

void yield_n(int n) {
  for (int i = 0; i < n; ++i) weft::yield();
}

// --- sending and receiving -------------------------------------------------------

TEST(Channel, RendezvousSendWaitsForAReceiver) {
  weft::run([] {
    weft::Channel<int> ch;
    EXPECT_EQ(0u, ch.capacity());
    std::vector<std::string> events;
    auto sender = weft::create_task([&] {
      events.push_back("send");
      ch.send(1);
      events.push_back("sent");
    });
    yield_n(3);
    EXPECT_EQ((std::vector<std::string>{"send"}), events);  // no receiver yet
    EXPECT_EQ(0u, ch.size());
    EXPECT_EQ(1, ch.recv());  // takes the item from the parked sender
    events.push_back("received");
    sender.get();
    EXPECT_EQ((std::vector<std::string>{"send", "received", "sent"}), events);
  });
}

TEST(Channel, RendezvousRecvWaitsForASender) {
  weft::run([] {
    weft::Channel<int> ch;
    auto receiver = weft::create_task([&] { return ch.recv(); });
    yield_n(3);
    EXPECT_FALSE(receiver.done());
    ch.send(7);  // hands the item to the parked receiver, without waiting
    EXPECT_EQ(7, receiver.get());
  });
}

TEST(Channel, BufferedSendWaitsOnlyWhileFull) {
  weft::run([] {
    weft::Channel<int> ch(2);
    ch.send(1);
    ch.send(2);
    EXPECT_EQ(2u, ch.size());
    auto sender = weft::create_task([&] { ch.send(3); });
    yield_n(3);
    EXPECT_FALSE(sender.done());
    EXPECT_EQ(1, ch.recv());  // the parked sender's item takes the freed place
    EXPECT_EQ(2u, ch.size());
    sender.get();
    EXPECT_EQ(2, ch.recv());
    EXPECT_EQ(3, ch.recv());
  });
}

TEST(Channel, TrySendAndTryRecvNeverWait) {
  weft::run([] {
    weft::Channel<int> rendezvous;
    EXPECT_FALSE(rendezvous.try_send(1));  // nobody receives
    int out = 0;
    EXPECT_FALSE(rendezvous.try_recv(out));
    auto receiver = weft::create_task([&] { return rendezvous.recv(); });
    weft::yield();
    EXPECT_TRUE(rendezvous.try_send(2));
    EXPECT_EQ(2, receiver.get());

    weft::Channel<int> buffered(1);
    EXPECT_TRUE(buffered.try_send(3));
    EXPECT_FALSE(buffered.try_send(4));
    EXPECT_TRUE(buffered.try_recv(out));
    EXPECT_EQ(3, out);
    EXPECT_FALSE(buffered.try_recv(out));
  });
}

TEST(Channel, MoveOnlyItems) {
  weft::run([] {
    weft::Channel<std::unique_ptr<int>> ch;
    auto receiver = weft::create_task([&] { return ch.recv(); });
    std::unique_ptr<int> item(new int(5));
    ch.send(std::move(item));
    EXPECT_EQ(nullptr, item);
    EXPECT_EQ(5, *receiver.get());

    weft::Channel<std::unique_ptr<int>> buffered(1);
    std::unique_ptr<int> kept(new int(6));
    EXPECT_TRUE(buffered.try_send(std::unique_ptr<int>(new int(1))));
    EXPECT_FALSE(buffered.try_send(std::move(kept)));
    ASSERT_NE(nullptr, kept);  // not sent, so not moved from
    std::unique_ptr<int> out;
    EXPECT_TRUE(buffered.recv(out));
    EXPECT_EQ(1, *out);
  });
}

TEST(Channel, ItemsComeOutInOrder) {
  weft::run([] {
    weft::Channel<int> ch(3);
    auto sender = weft::create_task([&] {
      for (int i = 0; i < 10; ++i) ch.send(i);
      ch.close();
    });
    std::vector<int> got;
    for (int item : ch) got.push_back(item);
    sender.get();
    EXPECT_EQ((std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), got);
  });
}

// --- close() -------------------------------------------------------------------------

TEST(ChannelClose, ReceiversDrainTheBufferThenSeeTheEnd) {
  weft::run([] {
    weft::Channel<int> ch(4);
    ch.send(1);
    ch.send(2);
    ch.close();
    EXPECT_TRUE(ch.closed());
    int out = 0;
    EXPECT_TRUE(ch.recv(out));
    EXPECT_EQ(1, out);
    EXPECT_EQ(2, ch.recv());
    EXPECT_FALSE(ch.recv(out));
    EXPECT_THROW(ch.recv(), weft::ChannelClosed);
    EXPECT_THROW(ch.try_recv(out), weft::ChannelClosed);
    ch.close();  // idempotent
  });
}

TEST(ChannelClose, WakesParkedReceivers) {
  weft::run([] {
    weft::Channel<int> ch;
    auto r1 = weft::create_task([&] {
      int out = 0;
      return ch.recv(out);
    });
    auto r2 = weft::create_task([&] { return ch.recv(); });
    weft::yield();
    ch.close();
    EXPECT_FALSE(r1.get());
    EXPECT_THROW(r2.get(), weft::ChannelClosed);
  });
}

TEST(ChannelClose, WakesParkedSendersWhoKeepTheirItems) {
  weft::run([] {
    weft::Channel<std::unique_ptr<int>> ch;
    std::unique_ptr<int> item(new int(1));
    auto sender = weft::create_task([&] { ch.send(std::move(item)); });
    weft::yield();
    ch.close();
    EXPECT_THROW(sender.get(), weft::ChannelClosed);
    ASSERT_NE(nullptr, item);
    EXPECT_THROW(ch.send(std::move(item)), weft::ChannelClosed);
    EXPECT_THROW(ch.try_send(std::move(item)), weft::ChannelClosed);
    ASSERT_NE(nullptr, item);
    try {
      ch.send(std::move(item));
    } catch (const weft::ChannelClosed& e) {
      EXPECT_EQ("weft::Channel::send: the channel is closed", std::string(e.what()));
    }
  });
}

TEST(ChannelClose, RangeForEndsWhenClosedAndEmpty) {
  weft::run([] {
    weft::Channel<std::string> ch(1);
    std::vector<std::string> got;
    auto consumer = weft::create_task([&] {
      for (std::string& s : ch) got.push_back(s);
    });
    ch.send("a");
    ch.send("b");
    ch.send("c");
    ch.close();
    consumer.get();
    EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}), got);
  });
}

// --- handoff and cancellation: the races, made deterministic ----------------------
//
// Each test completes a parked task's operation and cancels the task in the
// same loop iteration, before it resumes: the completed operation stands,
// and the cancellation is raised at the task's next suspension point.

TEST(ChannelCancel, ReceiverHandedAnItemThenCancelledKeepsIt) {
  weft::run([] {
    weft::Channel<int> ch;
    int received = -1;
    bool reached_next_wait = false;
    auto receiver = weft::create_task([&] {
      received = ch.recv();
      reached_next_wait = true;
      weft::yield();  // the pending cancellation is raised here
    });
    weft::yield();
    ch.send(42);        // completes the receiver's recv()...
    receiver.cancel();  // ...which is cancelled before it resumes
    EXPECT_THROW(receiver.get(), weft::CancelledError);
    EXPECT_EQ(42, received);
    EXPECT_TRUE(reached_next_wait);
  });
}

TEST(ChannelCancel, SenderWhoseItemWasTakenThenCancelledReturnsNormally) {
  weft::run([] {
    weft::Channel<int> ch;
    bool sent = false;
    auto sender = weft::create_task([&] {
      ch.send(9);
      sent = true;
      weft::yield();
    });
    weft::yield();
    int out = 0;
    EXPECT_TRUE(ch.try_recv(out));  // completes the sender's send()...
    sender.cancel();                // ...which is cancelled before it resumes
    EXPECT_THROW(sender.get(), weft::CancelledError);
    EXPECT_EQ(9, out);
    EXPECT_TRUE(sent);  // it knows the item went: no retry, no duplicate
    EXPECT_FALSE(ch.try_recv(out));
  });
}

TEST(ChannelCancel, BufferedSenderRefilledFromThenCancelledReturnsNormally) {
  weft::run([] {
    weft::Channel<int> ch(1);
    ch.send(1);
    bool sent = false;
    auto sender = weft::create_task([&] {
      ch.send(2);
      sent = true;
      weft::yield();
    });
    weft::yield();
    EXPECT_EQ(1, ch.recv());  // the sender's item moves into the buffer...
    sender.cancel();          // ...and then it is cancelled
    EXPECT_THROW(sender.get(), weft::CancelledError);
    EXPECT_TRUE(sent);
    EXPECT_EQ(2, ch.recv());
    EXPECT_EQ(0u, ch.size());
  });
}

TEST(ChannelCancel, ReceiverCancelledBeforeTheHandoffIsSkipped) {
  weft::run([] {
    weft::Channel<int> ch;
    auto r1 = weft::create_task([&] { return ch.recv(); });
    auto r2 = weft::create_task([&] { return ch.recv(); });
    weft::yield();
    r1.cancel();  // r1 is woken by its cancellation...
    ch.send(3);   // ...so the item goes to r2
    EXPECT_EQ(3, r2.get());
    EXPECT_THROW(r1.get(), weft::CancelledError);
  });
}

TEST(ChannelCancel, SenderCancelledWhileParkedSendsNothing) {
  weft::run([] {
    weft::Channel<std::unique_ptr<int>> ch;
    std::unique_ptr<int> item(new int(4));
    auto sender = weft::create_task([&] { ch.send(std::move(item)); });
    weft::yield();
    sender.cancel();
    std::unique_ptr<int> out;
    EXPECT_FALSE(ch.try_recv(out));  // the cancelled sender is skipped
    EXPECT_THROW(sender.get(), weft::CancelledError);
    ASSERT_NE(nullptr, item);  // still the sender's
    EXPECT_EQ(4, *item);
  });
}

// --- fairness ------------------------------------------------------------------------

TEST(ChannelFairness, ReceiversAndSendersAreServedInTheOrderTheyWaited) {
  weft::run([] {
    weft::Channel<int> ch;
    std::vector<weft::Task<int>> receivers;
    for (int i = 0; i < 4; ++i) receivers.push_back(weft::create_task([&] { return ch.recv(); }));
    weft::yield();
    for (int i = 0; i < 4; ++i) ch.send(i);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(i, receivers[static_cast<std::size_t>(i)].get());

    std::vector<weft::Task<void>> senders;
    for (int i = 0; i < 4; ++i) senders.push_back(weft::create_task([&ch, i] { ch.send(i); }));
    weft::yield();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(i, ch.recv());
    for (auto& s : senders) s.get();
  });
}

// --- where calls may come from -------------------------------------------------------

TEST(ChannelCalls, BlockingCallsThrowOutsideATask) {
  weft::run([] {
    weft::Channel<int> ch(2);
    ch.send(1);
    bool checked = false;
    weft::get_running_loop().call_soon([&] {
      EXPECT_THROW(ch.send(2), weft::InvalidStateError);  // even with room
      EXPECT_THROW(ch.recv(), weft::InvalidStateError);   // even with an item
      EXPECT_THROW(ch.begin(), weft::InvalidStateError);
      EXPECT_TRUE(ch.try_send(2));  // non-blocking calls work
      int out = 0;
      EXPECT_TRUE(ch.try_recv(out));
      EXPECT_EQ(1, out);
      ch.close();
      checked = true;
    });
    weft::yield();
    EXPECT_TRUE(checked);
    EXPECT_EQ(2, ch.recv());
  });
}

TEST(ChannelCalls, CallsFromAnotherThreadThrow) {
  weft::run([] {
    weft::Channel<int> ch(1);
    int refused = 0;
    std::thread other([&] {
      try {
        ch.try_send(1);
      } catch (const weft::InvalidStateError&) {
        ++refused;
      }
      try {
        ch.close();
      } catch (const weft::InvalidStateError&) {
        ++refused;
      }
    });
    other.join();
    EXPECT_EQ(2, refused);
    EXPECT_FALSE(ch.closed());
    EXPECT_EQ(0u, ch.size());
  });
}

// --- a channel destroyed under parked tasks ----------------------------------------

TEST(ChannelDestroyed, ParkedTasksWakeAndThrow) {
  weft::run([] {
    std::unique_ptr<weft::Channel<int>> in(new weft::Channel<int>());
    std::unique_ptr<weft::Channel<int>> out(new weft::Channel<int>());
    auto receiver = weft::create_task([&] { return in->recv(); });
    auto sender = weft::create_task([&] { out->send(1); });
    weft::yield();
    in.reset();
    out.reset();
    EXPECT_THROW(receiver.get(), weft::InvalidStateError);
    EXPECT_THROW(sender.get(), weft::InvalidStateError);
  });
}

TEST(ChannelDestroyed, ReceiverHandedAnItemStillGetsIt) {
  weft::run([] {
    std::unique_ptr<weft::Channel<int>> ch(new weft::Channel<int>());
    auto receiver = weft::create_task([&] { return ch->recv(); });
    weft::yield();
    ch->send(8);  // completes the receive...
    ch.reset();   // ...before the receiver resumes: it has its item already
    EXPECT_EQ(8, receiver.get());
  });
}

// --- stress --------------------------------------------------------------------------

struct Tally {
  explicit Tally(std::size_t n) : seen(n, 0) {}
  void see(uint32_t item) {
    ++seen[item];
    sum += item;
    ++count;
  }
  bool each_once() const {
    for (uint8_t s : seen) {
      if (s != 1) return false;
    }
    return true;
  }
  std::vector<uint8_t> seen;
  uint64_t sum = 0;
  uint64_t count = 0;
};

std::size_t stress_items() { return weft::detail::running_on_valgrind() ? 20000 : 1000000; }

class ChannelStress : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ChannelStress, SixteenSendersSixteenReceivers) {
  const std::size_t n = stress_items();
  const std::size_t kTasks = 16;
  const std::size_t capacity = GetParam();
  Tally tally(n);
  weft::run([&] {
    weft::Channel<uint32_t> ch(capacity);
    std::vector<weft::Task<void>> senders;
    std::vector<weft::Task<void>> receivers;
    for (std::size_t s = 0; s < kTasks; ++s) {
      senders.push_back(weft::create_task([&, s] {
        for (std::size_t i = s; i < n; i += kTasks) ch.send(static_cast<uint32_t>(i));
      }));
      receivers.push_back(weft::create_task([&] {
        for (uint32_t item : ch) tally.see(item);
      }));
    }
    for (auto& s : senders) s.get();
    ch.close();
    for (auto& r : receivers) r.get();
  });
  EXPECT_EQ(n, tally.count);
  EXPECT_EQ(uint64_t{n} * (n - 1) / 2, tally.sum);
  EXPECT_TRUE(tally.each_once());
}

// Senders and receivers are cancelled at pseudo-random moments and
// replaced. A send that threw CancelledError did not send (its item is
// handed back for another sender); one that returned did, exactly once.
class ChannelCancelStorm : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ChannelCancelStorm, CancellationsLoseNothing) {
  const std::size_t n = stress_items() / 10;
  Tally got(n);
  weft::run([&] {
    weft::Channel<uint32_t> ch(GetParam());
    std::size_t next_item = 0;
    std::size_t sent = 0;
    std::vector<uint32_t> retry;  // items whose send() was cancelled
    std::function<void()> sender = [&] {
      for (;;) {
        uint32_t item;
        if (!retry.empty()) {
          item = retry.back();
          retry.pop_back();
        } else if (next_item < n) {
          item = static_cast<uint32_t>(next_item++);
        } else {
          return;
        }
        try {
          ch.send(item);
        } catch (...) {
          retry.push_back(item);
          throw;
        }
        ++sent;
      }
    };
    std::function<void()> receiver = [&] {
      for (;;) got.see(ch.recv());  // ends by CancelledError or ChannelClosed
    };
    std::vector<weft::Task<void>> senders, receivers;
    for (int i = 0; i < 4; ++i) {
      senders.push_back(weft::create_task(sender));
      receivers.push_back(weft::create_task(receiver));
    }
    uint64_t x = 7;
    int cancels = 0;
    while (sent < n) {
      x = x * 6364136223846793005u + 1442695040888963407u;
      yield_n(1 + static_cast<int>((x >> 33) % 3));
      const bool sender_side = ((x >> 20) & 1) != 0;
      std::vector<weft::Task<void>>& side = sender_side ? senders : receivers;
      weft::Task<void>& victim = side[(x >> 40) % side.size()];
      if (victim.cancel()) ++cancels;
      try {
        victim.get();
      } catch (const weft::CancelledError&) {
      }
      victim = weft::create_task(sender_side ? sender : receiver);
    }
    for (auto& s : senders) s.get();
    ch.close();
    for (auto& r : receivers) EXPECT_THROW(r.get(), weft::ChannelClosed);
    EXPECT_GT(cancels, static_cast<int>(n / 100));
  });
  EXPECT_EQ(n, got.count);
  EXPECT_TRUE(got.each_once());
}

INSTANTIATE_TEST_SUITE_P(Capacities, ChannelStress, ::testing::Values(std::size_t{0}, std::size_t{64}));
// A small buffer, so that cancellations hit tasks that are parked.
INSTANTIATE_TEST_SUITE_P(Capacities, ChannelCancelStorm, ::testing::Values(std::size_t{0}, std::size_t{2}));

}  // namespace
