/* Shift the wall clock of a process and its children by REALTIME_OFFSET seconds (LD_PRELOAD).
 *
 * scripts/suite-at.sh runs the test suite on a machine "moved in time" with it. Debian's
 * libfaketime (0.9.10) was tried first and cannot carry this stack: with its monotonic clock
 * faked, Python 3.11's timed lock waits (sem_clockwait on CLOCK_MONOTONIC, not intercepted) wait
 * for the whole offset, so threading.Event.wait(10) hangs; with FAKETIME_DONT_FAKE_MONOTONIC=1,
 * time.sleep fails with EINVAL (its clock_nanosleep intercept rebases every absolute deadline on
 * the wall clock); and redis-server hangs at start (jemalloc reads the clock while libfaketime
 * resolves its symbols, libfaketime issue #130).
 *
 * This shim shifts only the wall clock: CLOCK_REALTIME (and its coarse and TAI forms),
 * gettimeofday and time, read from the kernel and moved by the offset, plus the absolute
 * wall-clock deadlines of clock_nanosleep and sem_timedwait, moved back. Monotonic clocks,
 * relative timeouts (sleep, poll, select, epoll) and file times are left alone. It resolves no
 * symbol and allocates nothing, so it is safe inside any allocator. Not covered: absolute
 * deadlines on a CLOCK_REALTIME condition variable or timer (pthread_cond_timedwait,
 * timer_settime); Python, PostgreSQL, Redis and Chromium time their waits on monotonic clocks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long offset;

__attribute__((constructor)) static void read_offset(void) {
    const char *text = getenv("REALTIME_OFFSET");
    offset = text ? strtol(text, NULL, 10) : 0;
}

static int is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    long rc = syscall(SYS_clock_gettime, clock, ts);
    if (rc == 0 && is_wall_clock(clock)) ts->tv_sec += offset;
    return (int)rc;
}

/* glibc declares tv non-null, but a NULL from a caller that ignores that must not crash. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"
int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
    if (tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

/* A deadline computed from the shifted wall clock, given back to the kernel's. */
static struct timespec unshifted(const struct timespec *deadline) {
    struct timespec real = *deadline;
    real.tv_sec -= offset;
    return real;
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem) {
    struct timespec real;
    if ((flags & TIMER_ABSTIME) && req && is_wall_clock(clock)) {
        real = unshifted(req);
        req = &real;
    }
    /* clock_nanosleep returns the error rather than setting errno. */
    long rc = syscall(SYS_clock_nanosleep, clock, flags, req, rem);
    return rc == 0 ? 0 : errno;
}

int sem_timedwait(sem_t *sem, const struct timespec *deadline) {
    struct timespec real = unshifted(deadline);
    return sem_clockwait(sem, CLOCK_REALTIME, &real);
}
