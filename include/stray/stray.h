// stray/stray.h — umbrella header: Go's concurrency model for C++20.
#pragma once

#include "stray/chan.h"
#include "stray/context.h"
#include "stray/go.h"
#include "stray/panic.h"
#include "stray/pprof.h"
#include "stray/select.h"
#include "stray/sync.h"
#include "stray/time.h"
