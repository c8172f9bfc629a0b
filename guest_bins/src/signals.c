/* signals: signal delivery to the process itself.  Handlers only record
 * facts in volatile globals; main prints them afterwards, so the output is
 * deterministic and the same natively and under a correct emulator. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *yesno(int b) { return b ? "yes" : "no"; }

static const char *errno_name(int e)
{
    static char buf[32];
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EPIPE: return "EPIPE";
    case ENOSYS: return "ENOSYS";
    default:
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
}

static int is_blocked(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig) == 1;
}

static int is_pending(int sig)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, sig) == 1;
}

/* ---- SIGUSR1: plain handler ---- */
static volatile sig_atomic_t usr1_count;
static volatile sig_atomic_t usr1_signo;
static volatile sig_atomic_t usr1_usr2_blocked;
static volatile sig_atomic_t usr1_self_blocked;

static void usr1_handler(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    usr1_signo = sig;
    usr1_usr2_blocked = sigismember(&cur, SIGUSR2) == 1;
    usr1_self_blocked = sigismember(&cur, SIGUSR1) == 1;
    usr1_count++;
}

static void install_usr1(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = usr1_handler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sa.sa_flags = flags;
    sigaction(SIGUSR1, &sa, NULL);
}

/* ---- SIGUSR2: SA_SIGINFO handler ---- */
static volatile sig_atomic_t usr2_count;
static volatile int usr2_signo;
static volatile int usr2_code;
static volatile long usr2_pid;
static volatile long usr2_uid;
static volatile int usr2_uc_nonnull;

static void usr2_action(int sig, siginfo_t *si, void *uc)
{
    usr2_signo = si->si_signo;
    usr2_code = si->si_code;
    usr2_pid = si->si_pid;
    usr2_uid = si->si_uid;
    usr2_uc_nonnull = uc != NULL && sig == SIGUSR2;
    usr2_count++;
}

/* ---- register preservation ---- */
static volatile sig_atomic_t loop_count;
static volatile unsigned long g_callee;

static void loop_handler(int sig)
{
    (void)sig;
    g_callee = g_callee * 31 + 0x5eed;
    loop_count++;
}

/* Several live locals across a raise() in the middle of the loop. */
__attribute__((noinline)) static unsigned long live_loop(int raise_at)
{
    unsigned long a = 1, b = 2, c = 3, d = 5, e = 7, f = 11;
    for (int i = 0; i < 1000; i++) {
        a = a * 6364136223846793005UL + b;
        b ^= a >> 7;
        c += b * 3;
        d = (d << 1) | (c >> 63);
        e += d ^ (unsigned long)i;
        f ^= e + a;
        if (i == raise_at)
            raise(SIGUSR1);
    }
    return a ^ b ^ c ^ d ^ e ^ f;
}

static volatile sig_atomic_t clobber_count;

/* Trashes caller-saved and callee-saved GPRs and two XMM registers.  The
 * caller-saved ones (rdx rsi rdi r8 r9 r10 xmm0 xmm7) are only restored if
 * the kernel's signal frame / sigreturn restores them. */
static void clobber_handler(int sig)
{
    (void)sig;
    clobber_count++;
    __asm__ volatile("mov $-1, %%rdx\n\t"
                     "mov $-1, %%rsi\n\t"
                     "mov $-1, %%rdi\n\t"
                     "mov $-1, %%r8\n\t"
                     "mov $-1, %%r9\n\t"
                     "mov $-1, %%r10\n\t"
                     "mov $-1, %%rbx\n\t"
                     "mov $-1, %%r12\n\t"
                     "mov $-1, %%r13\n\t"
                     "mov $-1, %%r14\n\t"
                     "mov $-1, %%r15\n\t"
                     "pcmpeqd %%xmm0, %%xmm0\n\t"
                     "pcmpeqd %%xmm7, %%xmm7\n\t"
                     :
                     :
                     : "rdx", "rsi", "rdi", "r8", "r9", "r10", "rbx", "r12", "r13",
                       "r14", "r15", "xmm0", "xmm7", "memory", "cc");
}

/* Loads known values into registers, does kill(pid, sig) with the syscall
 * instruction (the signal is delivered on its return), then ORs the
 * difference of every register from its expected value into rax.
 * Returns 0 when kill succeeded and all registers survived. */
__attribute__((noinline)) static long regs_across_signal(long pid, long sig)
{
    long ret = SYS_kill;
    long rdi = pid, rsi = sig;
    __asm__ volatile(
        "movabs $0x1111111111111111, %%rbx\n\t"
        "movabs $0x2222222222222222, %%rdx\n\t"
        "movabs $0x3333333333333333, %%r8\n\t"
        "movabs $0x4444444444444444, %%r9\n\t"
        "movabs $0x5555555555555555, %%r10\n\t"
        "movabs $0x6666666666666666, %%r12\n\t"
        "movabs $0x7777777777777777, %%r13\n\t"
        "movabs $0x1234567812345678, %%r14\n\t"
        "movabs $0x0fedcba987654321, %%r15\n\t"
        "movabs $0x0123456789abcdef, %%rcx\n\t"
        "movq %%rcx, %%xmm0\n\t"
        "movabs $0x7e57ab1e5ca1ab1e, %%rcx\n\t"
        "movq %%rcx, %%xmm7\n\t"
        "syscall\n\t"
        "movabs $0x1111111111111111, %%rcx\n\t"
        "xor %%rcx, %%rbx\n\t"
        "or %%rbx, %%rax\n\t"
        "movabs $0x2222222222222222, %%rcx\n\t"
        "xor %%rcx, %%rdx\n\t"
        "or %%rdx, %%rax\n\t"
        "movabs $0x3333333333333333, %%rcx\n\t"
        "xor %%rcx, %%r8\n\t"
        "or %%r8, %%rax\n\t"
        "movabs $0x4444444444444444, %%rcx\n\t"
        "xor %%rcx, %%r9\n\t"
        "or %%r9, %%rax\n\t"
        "movabs $0x5555555555555555, %%rcx\n\t"
        "xor %%rcx, %%r10\n\t"
        "or %%r10, %%rax\n\t"
        "movabs $0x6666666666666666, %%rcx\n\t"
        "xor %%rcx, %%r12\n\t"
        "or %%r12, %%rax\n\t"
        "movabs $0x7777777777777777, %%rcx\n\t"
        "xor %%rcx, %%r13\n\t"
        "or %%r13, %%rax\n\t"
        "movabs $0x1234567812345678, %%rcx\n\t"
        "xor %%rcx, %%r14\n\t"
        "or %%r14, %%rax\n\t"
        "movabs $0x0fedcba987654321, %%rcx\n\t"
        "xor %%rcx, %%r15\n\t"
        "or %%r15, %%rax\n\t"
        "movq %%xmm0, %%r11\n\t"
        "movabs $0x0123456789abcdef, %%rcx\n\t"
        "xor %%rcx, %%r11\n\t"
        "or %%r11, %%rax\n\t"
        "movq %%xmm7, %%r11\n\t"
        "movabs $0x7e57ab1e5ca1ab1e, %%rcx\n\t"
        "xor %%rcx, %%r11\n\t"
        "or %%r11, %%rax\n\t"
        : "+a"(ret), "+D"(rdi), "+S"(rsi)
        :
        : "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
          "xmm0", "xmm7", "memory", "cc");
    if (rdi != pid || rsi != sig)
        ret |= 1L << 40;
    return ret;
}

/* ---- SIGPIPE ---- */
static volatile sig_atomic_t pipe_count;
static void pipe_handler(int sig)
{
    (void)sig;
    pipe_count++;
}

/* ---- SIGSEGV on an alternate stack ---- */
static char altstack[65536];
static sigjmp_buf segv_env;
static volatile sig_atomic_t segv_count;
static volatile int segv_signo, segv_code_maperr, segv_addr_null;
static volatile int segv_on_alt, segv_ss_onstack;
static volatile int *volatile nullp = 0;

static void segv_action(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    volatile char local = 0;
    uintptr_t p = (uintptr_t)&local;
    segv_on_alt = p >= (uintptr_t)altstack && p < (uintptr_t)altstack + sizeof altstack;
    stack_t cur;
    segv_ss_onstack = sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK) != 0;
    segv_signo = sig;
    segv_code_maperr = si->si_code == SEGV_MAPERR;
    segv_addr_null = si->si_addr == NULL;
    segv_count++;
    (void)local;
    siglongjmp(segv_env, 1);
}

__attribute__((noinline)) static int try_null_read(void)
{
    if (sigsetjmp(segv_env, 1) == 0) {
        int v = *nullp;
        printf("read through NULL returned %d?!\n", v);
        return 0;
    }
    return 1;
}

int main(void)
{
    int r;
    struct sigaction sa, q;

    /* 1. handler with sa_mask and SA_RESTART, via raise and kill */
    printf("== SIGUSR1 handler\n");
    install_usr1(SA_RESTART);
    r = raise(SIGUSR1);
    printf("raise: %d, count=%d\n", r, (int)usr1_count);
    r = kill(getpid(), SIGUSR1);
    printf("kill: %d, count=%d\n", r, (int)usr1_count);
    printf("handler saw signo=%d, SIGUSR2 blocked in handler: %s, SIGUSR1 blocked in handler: %s\n",
           (int)usr1_signo, yesno(usr1_usr2_blocked), yesno(usr1_self_blocked));
    printf("after handler: SIGUSR2 blocked: %s, SIGUSR1 blocked: %s\n",
           yesno(is_blocked(SIGUSR2)), yesno(is_blocked(SIGUSR1)));

    /* 2. SA_SIGINFO handler, kill() -> SI_USER */
    printf("== SIGUSR2 SA_SIGINFO\n");
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = usr2_action;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    r = kill(getpid(), SIGUSR2);
    printf("kill: %d, count=%d\n", r, (int)usr2_count);
    printf("si_signo=%d si_code=%d (SI_USER: %s) si_pid==getpid: %s si_uid==getuid: %s "
           "ucontext non-NULL: %s\n",
           usr2_signo, usr2_code, yesno(usr2_code == SI_USER),
           yesno(usr2_pid == (long)getpid()), yesno(usr2_uid == (long)getuid()),
           yesno(usr2_uc_nonnull));

    /* 3. registers / locals survive a handler */
    printf("== registers survive handler\n");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = loop_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    unsigned long expect = live_loop(-1);
    g_callee = 1;
    unsigned long got = live_loop(500);
    printf("loop result=%016lx matches: %s, handler ran %d time(s), global changed: %s\n",
           got, yesno(got == expect), (int)loop_count, yesno(g_callee == 31 + 0x5eed));
    sa.sa_handler = clobber_handler;
    sigaction(SIGUSR1, &sa, NULL);
    long diff = regs_across_signal(getpid(), SIGUSR1);
    printf("raw kill with registers loaded: handler ran %d time(s), registers intact: %s\n",
           (int)clobber_count, yesno(diff == 0));

    /* 4. a blocked signal stays pending until unblocked */
    printf("== blocked signal pending\n");
    install_usr1(0);
    usr1_count = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    r = raise(SIGUSR1);
    printf("raise while blocked: %d, count=%d, pending: %s\n", r, (int)usr1_count,
           yesno(is_pending(SIGUSR1)));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    int at_unblock = usr1_count;
    printf("right after unblock: count=%d, pending: %s\n", at_unblock,
           yesno(is_pending(SIGUSR1)));

    /* 5. SIG_IGN */
    printf("== SIG_IGN\n");
    signal(SIGUSR1, SIG_IGN);
    r = raise(SIGUSR1);
    printf("raise ignored: %d, count=%d, pending: %s\n", r, (int)usr1_count,
           yesno(is_pending(SIGUSR1)));

    /* 6. SIGPIPE */
    printf("== SIGPIPE\n");
    int pfd[2];
    if (pipe(pfd) != 0) {
        printf("pipe failed\n");
        return 1;
    }
    close(pfd[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    r = (int)write(pfd[1], "x", 1);
    printf("ignored: write=%d errno=%s\n", r, errno_name(r < 0 ? errno : 0));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pipe_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    errno = 0;
    r = (int)write(pfd[1], "x", 1);
    int e = r < 0 ? errno : 0;
    printf("handled: write=%d errno=%s, handler ran %d time(s)\n", r, errno_name(e),
           (int)pipe_count);
    close(pfd[1]);
    signal(SIGPIPE, SIG_DFL);

    /* 7. SIGSEGV on an alternate stack, recovered with siglongjmp */
    printf("== SIGSEGV on sigaltstack\n");
    stack_t ss;
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    ss.ss_flags = 0;
    r = sigaltstack(&ss, NULL);
    printf("sigaltstack: %d\n", r);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_action;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    for (int round = 1; round <= 2; round++) {
        segv_on_alt = segv_ss_onstack = 0;
        if (try_null_read())
            printf("round %d: recovered from SIGSEGV, count=%d\n", round, (int)segv_count);
        printf("round %d: signo=%d SEGV_MAPERR: %s si_addr==NULL: %s on altstack: %s "
               "SS_ONSTACK in handler: %s\n",
               round, segv_signo, yesno(segv_code_maperr), yesno(segv_addr_null),
               yesno(segv_on_alt), yesno(segv_ss_onstack));
        stack_t cur;
        sigaltstack(NULL, &cur);
        printf("round %d: SIGSEGV blocked after siglongjmp: %s, SS_ONSTACK now: %s\n", round,
               yesno(is_blocked(SIGSEGV)), yesno((cur.ss_flags & SS_ONSTACK) != 0));
    }
    signal(SIGSEGV, SIG_DFL);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);

    /* 8. SA_RESETHAND */
    printf("== SA_RESETHAND\n");
    install_usr1(SA_RESETHAND);
    usr1_count = 0;
    sigaction(SIGUSR1, NULL, &q);
    printf("before: handler installed: %s\n", yesno(q.sa_handler == usr1_handler));
    r = raise(SIGUSR1);
    printf("raise: %d, count=%d\n", r, (int)usr1_count);
    sigaction(SIGUSR1, NULL, &q);
    printf("after: disposition is SIG_DFL: %s\n", yesno(q.sa_handler == SIG_DFL));

    printf("done\n");
    return 0;
}
