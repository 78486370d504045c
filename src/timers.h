// timers.h — what the scheduler needs to know about timers (time.cc).
#pragma once

namespace stray::detail {
struct hchan;
}

namespace stray::rt {

struct G;

// True if any timer is scheduled (a sleeping goroutine or a timer channel
// that will fire): the program can still make progress.
bool timers_pending();

// For the leak detector, world stopped: fn(c, g, arg) for every scheduled
// timer (c: the channel it will send on; g: the goroutine it will wake).
void timers_for_each(void (*fn)(detail::hchan* c, G* g, void* arg), void* arg);

// Threads the timer machinery runs (0 until the first timer, then 1).
int timer_threads();

}  // namespace stray::rt
