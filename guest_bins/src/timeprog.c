/* timeprog: clocks and sleeps; prints only boolean checks. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static const char *yesno(int b) { return b ? "yes" : "no"; }

static long long ns(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

#define Y2020 1577836800LL /* 2020-01-01T00:00:00Z */

int main(void)
{
    struct timespec rt, m0, m1, m2, res;
    int r;

    r = clock_gettime(CLOCK_REALTIME, &rt);
    printf("clock_gettime(CLOCK_REALTIME): %d\n", r);
    printf("realtime plausible (> 2020): %s\n", yesno(rt.tv_sec > Y2020));
    printf("realtime nsec in range: %s\n", yesno(rt.tv_nsec >= 0 && rt.tv_nsec < 1000000000L));

    r = clock_gettime(CLOCK_MONOTONIC, &m0);
    printf("clock_gettime(CLOCK_MONOTONIC): %d\n", r);

    r = clock_getres(CLOCK_MONOTONIC, &res);
    printf("clock_getres(CLOCK_MONOTONIC): %d, resolution <= 1ms: %s\n", r,
           yesno(res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000));
    r = clock_getres(CLOCK_REALTIME, &res);
    printf("clock_getres(CLOCK_REALTIME): %d, resolution <= 1ms: %s\n", r,
           yesno(res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000));

    struct timeval tv;
    r = gettimeofday(&tv, NULL);
    printf("gettimeofday: %d\n", r);
    printf("gettimeofday plausible (> 2020): %s\n", yesno(tv.tv_sec > Y2020));
    printf("gettimeofday usec in range: %s\n", yesno(tv.tv_usec >= 0 && tv.tv_usec < 1000000));
    long long d = (long long)tv.tv_sec - (long long)rt.tv_sec;
    printf("gettimeofday agrees with realtime (within 2s): %s\n", yesno(d >= -1 && d <= 2));

    time_t t1 = time(NULL);
    time_t t2;
    time(&t2);
    printf("time() plausible (> 2020): %s\n", yesno((long long)t1 > Y2020));
    /* time() may lag the high-resolution clock by up to a tick, so allow slack */
    long long dt = (long long)t1 - (long long)rt.tv_sec;
    printf("time() consistent: %s\n", yesno(t2 >= t1 && dt >= -1 && dt <= 2));

    struct timespec req = {0, 20 * 1000000L}, rem = {0, 0};
    r = nanosleep(&req, &rem);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    printf("nanosleep 20ms: %d\n", r);
    printf("monotonic advanced: %s\n", yesno(ns(&m1) > ns(&m0)));
    printf("slept >= 20ms: %s\n", yesno(ns(&m1) - ns(&m0) >= 20000000LL));

    struct timespec req2 = {0, 10 * 1000000L};
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req2, NULL);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    printf("clock_nanosleep 10ms: %d\n", r);
    printf("slept >= 10ms: %s\n", yesno(ns(&m2) - ns(&m1) >= 10000000LL));

    /* absolute clock_nanosleep 5ms in the future */
    struct timespec m3, target;
    clock_gettime(CLOCK_MONOTONIC, &m3);
    long long tns = ns(&m3) + 5000000LL;
    target.tv_sec = (time_t)(tns / 1000000000LL);
    target.tv_nsec = (long)(tns % 1000000000LL);
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, NULL);
    struct timespec m4;
    clock_gettime(CLOCK_MONOTONIC, &m4);
    printf("clock_nanosleep TIMER_ABSTIME +5ms: %d, reached target: %s\n", r,
           yesno(ns(&m4) >= tns));

    struct timespec rt2;
    clock_gettime(CLOCK_REALTIME, &rt2);
    printf("realtime advanced: %s\n", yesno(ns(&rt2) > ns(&rt)));
    return 0;
}
