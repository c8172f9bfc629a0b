/* threads [NTHREADS]: POSIX threads basics, one line per check.
 *
 * Threads only record what they saw in arrays; main checks and prints after
 * joining them, so the output never depends on scheduling.  Every wait that a
 * bug could turn into a hang is bounded (timed joins and timed waits of 10 s),
 * and a failed check prints "threads: FAIL: ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXT 64
#define ITEMS 200
#define QSIZE 4
#define ROUNDS 3
#define ADDS 1000
#define LIMIT_S 10 /* bound on any wait that should finish quickly */

static int nthreads = 4;

static void fail(const char *what)
{
    printf("threads: FAIL: %s\n", what);
    fflush(stdout);
    exit(1);
}

static void check(int ok, const char *what)
{
    if (!ok)
        fail(what);
}

static void deadline(clockid_t clk, struct timespec *ts, long sec, long msec)
{
    clock_gettime(clk, ts);
    ts->tv_sec += sec;
    ts->tv_nsec += msec * 1000000L;
    while (ts->tv_nsec >= 1000000000L) {
        ts->tv_nsec -= 1000000000L;
        ts->tv_sec++;
    }
}

static int ts_ge(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
    int r = pthread_create(t, NULL, fn, arg);
    if (r) {
        printf("threads: FAIL: pthread_create (%s): %s\n", what, strerror(r));
        fflush(stdout);
        exit(1);
    }
}

/* Join with a 10 s bound: a thread stuck on a broken primitive ends the test. */
static void *join(pthread_t t, const char *what)
{
    struct timespec ts;
    void *ret = NULL;
    deadline(CLOCK_REALTIME, &ts, LIMIT_S, 0);
    int r = pthread_timedjoin_np(t, &ret, &ts);
    if (r) {
        printf("threads: FAIL: join (%s): %s\n", what, r == ETIMEDOUT ? "timed out" : strerror(r));
        fflush(stdout);
        exit(1);
    }
    return ret;
}

/* ---- create/join, TLS, pthread_self, gettid, once ------------------------- */

static __thread int tls_counter;         /* zero-initialised TLS (.tbss) */
static __thread int tls_init = 42;       /* initialised TLS (.tdata) */
static pthread_key_t key;
static int key_vals[MAXT];
static int key_destroyed[MAXT];          /* destructor calls per thread */
static int key_destroy_bad;              /* destructor got a foreign value */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_calls;

static void once_init(void) { __atomic_fetch_add(&once_calls, 1, __ATOMIC_SEQ_CST); }

static void key_destructor(void *p)
{
    int *v = p;
    if (v < key_vals || v >= key_vals + MAXT)
        __atomic_store_n(&key_destroy_bad, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&key_destroyed[v - key_vals], 1, __ATOMIC_SEQ_CST);
}

struct basic {
    int idx;
    int tls_ok;          /* __thread values as expected */
    int key_ok;          /* pthread_getspecific gave back this thread's value */
    int *tls_addr;       /* &tls_counter, compared (never printed) in main */
    pthread_t self;
    pid_t tid, pid;
    int yield_ok;
};

static void *basic_thread(void *arg)
{
    struct basic *b = arg;
    int ok = tls_counter == 0 && tls_init == 42;
    for (int i = 0; i <= b->idx; i++) {
        tls_counter++;
        tls_init++;
        if (sched_yield() != 0)
            b->yield_ok = 0;
    }
    ok = ok && tls_counter == b->idx + 1 && tls_init == 42 + b->idx + 1;
    b->tls_ok = ok;
    b->tls_addr = &tls_counter;

    key_vals[b->idx] = 1000 + b->idx;
    int kok = pthread_getspecific(key) == NULL;
    kok = kok && pthread_setspecific(key, &key_vals[b->idx]) == 0;
    sched_yield();
    kok = kok && pthread_getspecific(key) == &key_vals[b->idx];
    kok = kok && *(int *)pthread_getspecific(key) == 1000 + b->idx;
    b->key_ok = kok;

    pthread_once(&once, once_init);
    b->self = pthread_self();
    b->tid = gettid();
    b->pid = getpid();
    return (void *)(intptr_t)(b->idx * b->idx + 7);
}

static void test_basic(void)
{
    pthread_t t[MAXT];
    struct basic b[MAXT];
    memset(b, 0, sizeof b);
    check(pthread_key_create(&key, key_destructor) == 0, "pthread_key_create");
    tls_counter = 5;
    for (int i = 0; i < nthreads; i++) {
        b[i].idx = i;
        b[i].yield_ok = 1;
        start(&t[i], basic_thread, &b[i], "basic");
    }
    pthread_once(&once, once_init);
    int retok = 1;
    for (int i = 0; i < nthreads; i++)
        retok &= (intptr_t)join(t[i], "basic") == i * i + 7;
    check(retok, "create/join return values");
    printf("create/join: %d threads, return values ok\n", nthreads);

    int tlsok = tls_counter == 5 && tls_init == 42;
    for (int i = 0; i < nthreads; i++) {
        tlsok &= b[i].tls_ok && b[i].tls_addr != &tls_counter;
        for (int j = 0; j < i; j++)
            tlsok &= b[i].tls_addr != b[j].tls_addr;
    }
    check(tlsok, "__thread variables (per-thread values and addresses)");
    printf("__thread: per-thread values ok\n");

    int keyok = !key_destroy_bad && pthread_getspecific(key) == NULL;
    for (int i = 0; i < nthreads; i++)
        keyok &= b[i].key_ok && key_destroyed[i] == 1;
    check(keyok, "pthread_key_t values or destructor calls");
    check(pthread_key_delete(key) == 0, "pthread_key_delete");
    printf("pthread_key: %d destructor calls ok\n", nthreads);

    check(once_calls == 1, "pthread_once ran the init function exactly once");
    printf("pthread_once: init ran once ok\n");

    pthread_t me = pthread_self();
    int selfok = pthread_equal(me, pthread_self()) != 0;
    for (int i = 0; i < nthreads; i++)
        selfok &= pthread_equal(b[i].self, t[i]) && !pthread_equal(b[i].self, me);
    check(selfok, "pthread_self/pthread_equal");
    printf("pthread_self/equal: ok\n");

    pid_t mytid = gettid();
    int tidok = mytid == getpid();
    for (int i = 0; i < nthreads; i++) {
        tidok &= b[i].tid > 0 && b[i].tid != mytid;
        for (int j = 0; j < i; j++)
            tidok &= b[i].tid != b[j].tid;
    }
    check(tidok, "gettid differs between threads");
    printf("distinct tids: yes\n");
    int pidok = 1;
    for (int i = 0; i < nthreads; i++)
        pidok &= b[i].pid == getpid();
    check(pidok, "getpid is the same in every thread");
    printf("same pid in all threads: yes\n");
    int yok = 1;
    for (int i = 0; i < nthreads; i++)
        yok &= b[i].yield_ok;
    check(yok, "sched_yield returned non-zero");
}

/* ---- mutex-protected counter ---------------------------------------------- */

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long shared_count;

static void *count_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < ADDS; i++) {
        pthread_mutex_lock(&count_lock);
        long v = shared_count;
        if ((i & 63) == 0)
            sched_yield(); /* invite a lost update if the lock were broken */
        shared_count = v + 1;
        pthread_mutex_unlock(&count_lock);
    }
    return NULL;
}

static void test_mutex(void)
{
    pthread_t t[MAXT];
    for (int i = 0; i < nthreads; i++)
        start(&t[i], count_thread, NULL, "mutex counter");
    for (int i = 0; i < nthreads; i++)
        join(t[i], "mutex counter");
    long want = (long)nthreads * ADDS;
    printf("mutex counter: %ld (expected %ld)%s\n", shared_count, want,
           shared_count == want ? " ok" : "");
    check(shared_count == want, "mutex counter total");
}

/* ---- condition variables: bounded queue ----------------------------------- */

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_notfull = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_notempty = PTHREAD_COND_INITIALIZER;
static int queue[QSIZE], q_head, q_len, q_done, q_maxlen;
static int seen[ITEMS + 1];
static long consumed_sum;
static int pc_timeout;

/* Wait on cv with the 10 s bound; returns 0 on timeout (sets pc_timeout). */
static int q_wait(pthread_cond_t *cv, const struct timespec *limit)
{
    int r = pthread_cond_timedwait(cv, &q_lock, limit);
    if (r == ETIMEDOUT) {
        pc_timeout = 1;
        return 0;
    }
    return 1;
}

static void *producer(void *arg)
{
    (void)arg;
    struct timespec limit;
    deadline(CLOCK_REALTIME, &limit, LIMIT_S, 0);
    pthread_mutex_lock(&q_lock);
    for (int item = 1; item <= ITEMS; item++) {
        while (q_len == QSIZE && !pc_timeout)
            if (!q_wait(&q_notfull, &limit))
                break;
        if (pc_timeout)
            break;
        queue[(q_head + q_len) % QSIZE] = item;
        q_len++;
        if (q_len > q_maxlen)
            q_maxlen = q_len;
        pthread_cond_signal(&q_notempty);
        if (item % 16 == 0) {
            pthread_mutex_unlock(&q_lock);
            sched_yield();
            pthread_mutex_lock(&q_lock);
        }
    }
    q_done = 1;
    pthread_cond_broadcast(&q_notempty);
    pthread_mutex_unlock(&q_lock);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    struct timespec limit;
    long n = 0;
    deadline(CLOCK_REALTIME, &limit, LIMIT_S, 0);
    pthread_mutex_lock(&q_lock);
    for (;;) {
        while (q_len == 0 && !q_done && !pc_timeout)
            if (!q_wait(&q_notempty, &limit))
                break;
        if (q_len == 0)
            break; /* done (or timed out) and drained */
        int item = queue[q_head];
        q_head = (q_head + 1) % QSIZE;
        q_len--;
        pthread_cond_signal(&q_notfull);
        if (item >= 1 && item <= ITEMS)
            seen[item]++;
        consumed_sum += item;
        n++;
    }
    pthread_mutex_unlock(&q_lock);
    return (void *)n;
}

static void test_condvar(void)
{
    int consumers = nthreads > 1 ? nthreads - 1 : 1;
    pthread_t p, c[MAXT];
    for (int i = 0; i < consumers; i++)
        start(&c[i], consumer, NULL, "consumer");
    start(&p, producer, NULL, "producer");
    join(p, "producer");
    long total = 0;
    for (int i = 0; i < consumers; i++)
        total += (long)join(c[i], "consumer");
    check(!pc_timeout, "producer/consumer: a condition wait timed out after 10 s");
    int once_each = 1;
    for (int i = 1; i <= ITEMS; i++)
        once_each &= seen[i] == 1;
    check(once_each && total == ITEMS, "producer/consumer: every item consumed exactly once");
    check(q_maxlen <= QSIZE, "producer/consumer: queue overfilled");
    long want = ITEMS * (ITEMS + 1) / 2;
    printf("producer/consumer: 1 producer, %d consumer%s, %d items, queue %d, sum %ld (expected %ld)%s\n",
           consumers, consumers == 1 ? "" : "s", ITEMS, QSIZE, consumed_sum, want,
           consumed_sum == want ? " ok" : "");
    check(consumed_sum == want, "producer/consumer sum");
    printf("producer/consumer: each item consumed exactly once ok\n");
}

/* ---- barrier -------------------------------------------------------------- */

static pthread_barrier_t barrier;
static int slots[ROUNDS][MAXT];
static int barrier_ok[MAXT];
static int serial_count[ROUNDS];

static void *barrier_thread(void *arg)
{
    int idx = (int)(intptr_t)arg, ok = 1;
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < idx % 3; k++)
            sched_yield(); /* arrive in a different order each round */
        slots[r][idx] = 100 * (r + 1) + idx;
        int rc = pthread_barrier_wait(&barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serial_count[r], 1, __ATOMIC_SEQ_CST);
        else if (rc != 0)
            ok = 0;
        for (int j = 0; j < nthreads; j++)
            if (slots[r][j] != 100 * (r + 1) + j)
                ok = 0;
    }
    barrier_ok[idx] = ok;
    return NULL;
}

static void test_barrier(void)
{
    pthread_t t[MAXT];
    check(pthread_barrier_init(&barrier, NULL, nthreads) == 0, "pthread_barrier_init");
    for (int i = 0; i < nthreads; i++)
        start(&t[i], barrier_thread, (void *)(intptr_t)i, "barrier");
    for (int i = 0; i < nthreads; i++)
        join(t[i], "barrier");
    int ok = 1;
    for (int i = 0; i < nthreads; i++)
        ok &= barrier_ok[i];
    check(ok, "barrier: a thread saw a slot not yet written");
    for (int r = 0; r < ROUNDS; r++)
        ok &= serial_count[r] == 1;
    check(ok, "barrier: not exactly one PTHREAD_BARRIER_SERIAL_THREAD per round");
    check(pthread_barrier_destroy(&barrier) == 0, "pthread_barrier_destroy");
    printf("barrier: %d rounds of %d threads ok\n", ROUNDS, nthreads);
}

/* ---- detached thread + semaphore ------------------------------------------ */

static sem_t detached_done;
static int detached_value;

static void *detached_thread(void *arg)
{
    detached_value = (int)(intptr_t)arg * 2;
    sem_post(&detached_done);
    return NULL;
}

static void test_detached(void)
{
    pthread_attr_t attr;
    pthread_t t;
    int state = -1;
    check(sem_init(&detached_done, 0, 0) == 0, "sem_init");
    check(pthread_attr_init(&attr) == 0, "pthread_attr_init");
    check(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0, "setdetachstate");
    check(pthread_attr_getdetachstate(&attr, &state) == 0 && state == PTHREAD_CREATE_DETACHED,
          "getdetachstate");
    int r = pthread_create(&t, &attr, detached_thread, (void *)(intptr_t)21);
    check(r == 0, "pthread_create (detached)");
    pthread_attr_destroy(&attr);
    struct timespec limit;
    deadline(CLOCK_REALTIME, &limit, LIMIT_S, 0);
    while ((r = sem_timedwait(&detached_done, &limit)) != 0 && errno == EINTR)
        ;
    check(r == 0, "detached thread: sem_timedwait failed or timed out");
    check(detached_value == 42, "detached thread: value");
    printf("detached thread: signalled via semaphore, value %d ok\n", detached_value);
    /* A second detached thread, detached with pthread_detach after creation. */
    start(&t, detached_thread, (void *)(intptr_t)50, "detach later");
    check(pthread_detach(t) == 0, "pthread_detach");
    deadline(CLOCK_REALTIME, &limit, LIMIT_S, 0);
    while ((r = sem_timedwait(&detached_done, &limit)) != 0 && errno == EINTR)
        ;
    check(r == 0 && detached_value == 100, "pthread_detach'ed thread");
    printf("pthread_detach: value %d ok\n", detached_value);
}

/* ---- recursive mutex ------------------------------------------------------ */

static pthread_mutex_t rmutex;

static void *trylock_thread(void *arg)
{
    (void)arg;
    int r = pthread_mutex_trylock(&rmutex);
    if (r == 0)
        pthread_mutex_unlock(&rmutex);
    return (void *)(intptr_t)r;
}

static void test_recursive(void)
{
    pthread_mutexattr_t ma;
    pthread_t t;
    int type = -1;
    check(pthread_mutexattr_init(&ma) == 0, "pthread_mutexattr_init");
    check(pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE) == 0, "settype RECURSIVE");
    check(pthread_mutexattr_gettype(&ma, &type) == 0 && type == PTHREAD_MUTEX_RECURSIVE,
          "gettype RECURSIVE");
    check(pthread_mutex_init(&rmutex, &ma) == 0, "pthread_mutex_init (recursive)");
    pthread_mutexattr_destroy(&ma);
    check(pthread_mutex_lock(&rmutex) == 0, "recursive lock 1");
    check(pthread_mutex_lock(&rmutex) == 0, "recursive lock 2");
    check(pthread_mutex_trylock(&rmutex) == 0, "recursive trylock 3");
    start(&t, trylock_thread, NULL, "trylock");
    int r = (int)(intptr_t)join(t, "trylock");
    check(r == EBUSY, "recursive mutex: other thread's trylock while held is not EBUSY");
    for (int i = 0; i < 3; i++)
        check(pthread_mutex_unlock(&rmutex) == 0, "recursive unlock");
    start(&t, trylock_thread, NULL, "trylock");
    r = (int)(intptr_t)join(t, "trylock");
    check(r == 0, "recursive mutex: trylock after full unlock failed");
    pthread_mutex_destroy(&rmutex);
    printf("recursive mutex: lock x3, EBUSY in other thread, unlock x3 ok\n");
}

/* ---- timeouts ------------------------------------------------------------- */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

struct timedres { int rc; int late_enough; };

static void *timedlock_thread(void *arg)
{
    struct timedres *res = arg;
    struct timespec limit, now;
    deadline(CLOCK_REALTIME, &limit, 0, 20);
    res->rc = pthread_mutex_timedlock(&held, &limit);
    clock_gettime(CLOCK_REALTIME, &now);
    res->late_enough = ts_ge(&now, &limit);
    if (res->rc == 0)
        pthread_mutex_unlock(&held);
    return NULL;
}

static void test_timeouts(void)
{
    pthread_t t;
    struct timedres res = { -1, 0 };
    pthread_mutex_lock(&held);
    start(&t, timedlock_thread, &res, "timedlock");
    join(t, "timedlock");
    pthread_mutex_unlock(&held);
    check(res.rc == ETIMEDOUT, "pthread_mutex_timedlock on a held mutex did not give ETIMEDOUT");
    check(res.late_enough, "pthread_mutex_timedlock returned before its deadline");
    printf("pthread_mutex_timedlock (20 ms, held elsewhere): ETIMEDOUT ok\n");

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec limit, now;
    int r;
    pthread_mutex_lock(&m);
    deadline(CLOCK_REALTIME, &limit, 0, 20);
    do
        r = pthread_cond_timedwait(&cv, &m, &limit);
    while (r == 0); /* nobody signals: a (spurious) wakeup just waits again */
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_unlock(&m);
    check(r == ETIMEDOUT, "pthread_cond_timedwait did not give ETIMEDOUT");
    check(ts_ge(&now, &limit), "pthread_cond_timedwait returned before its deadline");
    printf("pthread_cond_timedwait (20 ms, CLOCK_REALTIME): ETIMEDOUT ok\n");

    pthread_condattr_t ca;
    pthread_cond_t mcv;
    check(pthread_condattr_init(&ca) == 0, "pthread_condattr_init");
    check(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0, "condattr_setclock MONOTONIC");
    check(pthread_cond_init(&mcv, &ca) == 0, "pthread_cond_init (monotonic)");
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&m);
    deadline(CLOCK_MONOTONIC, &limit, 0, 20);
    do
        r = pthread_cond_timedwait(&mcv, &m, &limit);
    while (r == 0);
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_unlock(&m);
    pthread_cond_destroy(&mcv);
    check(r == ETIMEDOUT, "pthread_cond_timedwait (monotonic) did not give ETIMEDOUT");
    check(ts_ge(&now, &limit), "pthread_cond_timedwait (monotonic) returned before its deadline");
    printf("pthread_cond_timedwait (20 ms, CLOCK_MONOTONIC): ETIMEDOUT ok\n");
}

/* ---- threads that never wait ----------------------------------------------- */
/* A thread that spins in user code must not keep its core from a thread it
 * started or woke: the kernel has to slice time from the moment a second
 * thread can run (the spins look at the clock now and then, to fail rather
 * than hang). */

static int spin_flag, spin_turn;
static sem_t spin_sem;

static void spin_until(int *word, int value, const char *what)
{
    struct timespec limit, now;
    deadline(CLOCK_MONOTONIC, &limit, LIMIT_S, 0);
    for (unsigned long i = 1; __atomic_load_n(word, __ATOMIC_ACQUIRE) != value; i++) {
        if (i % (1UL << 20) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (ts_ge(&now, &limit))
                fail(what);
        }
    }
}

static void *flag_setter(void *arg)
{
    (void)arg;
    __atomic_store_n(&spin_flag, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *woken_setter(void *arg)
{
    (void)arg;
    while (sem_wait(&spin_sem) != 0)
        ;
    __atomic_store_n(&spin_flag, 2, __ATOMIC_RELEASE);
    return NULL;
}

static void *ping(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < 20; i++) {
        spin_until(&spin_turn, me, "ping-pong: the other spinner never ran");
        __atomic_store_n(&spin_turn, 1 - me, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void test_spinning(void)
{
    pthread_t t, u;
    start(&t, flag_setter, NULL, "flag setter");
    spin_until(&spin_flag, 1, "a spinning thread kept its core from the thread it started");
    join(t, "flag setter");
    printf("spin until a new thread sets a flag: ok\n");

    check(sem_init(&spin_sem, 0, 0) == 0, "sem_init");
    start(&t, woken_setter, NULL, "woken setter");
    struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);                 /* (it waits on the semaphore by now) */
    sem_post(&spin_sem);
    spin_until(&spin_flag, 2, "a spinning thread kept its core from the thread it woke");
    join(t, "woken setter");
    sem_destroy(&spin_sem);
    printf("spin after waking a thread: ok\n");

    start(&t, ping, (void *)(intptr_t)0, "ping");
    start(&u, ping, (void *)(intptr_t)1, "pong");
    join(t, "ping");
    join(u, "pong");
    printf("two spinners take turns 20 times: ok\n");
}

/* ---- affinity ------------------------------------------------------------- */

static void test_affinity(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    check(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
    check(CPU_COUNT(&set) >= 1, "sched_getaffinity: empty mask");
    printf("affinity has >= 1 cpu: yes\n");
    check(sched_yield() == 0, "sched_yield");
    printf("sched_yield: ok\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end;
        long n = strtol(argv[1], &end, 10);
        if (*end || n < 1 || n > MAXT) {
            fprintf(stderr, "usage: threads [NTHREADS 1..%d]\n", MAXT);
            return 2;
        }
        nthreads = (int)n;
    }
    printf("threads: %d\n", nthreads);
    test_basic();
    test_mutex();
    test_condvar();
    test_barrier();
    test_detached();
    test_recursive();
    test_timeouts();
    test_spinning();
    test_affinity();
    printf("threads: all ok\n");
    return 0;
}
