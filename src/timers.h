// timers.h — what the scheduler needs to know about timers (time.cc).
#pragma once

namespace stray::rt {

// True if any timer is scheduled (a sleeping goroutine or a timer channel
// that will fire): the program can still make progress.
bool timers_pending();

// Threads the timer machinery runs (0 until the first timer, then 1).
int timer_threads();

}  // namespace stray::rt
