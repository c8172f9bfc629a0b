/* fpustate: the x87 control word and MXCSR as Linux sets them — at exec,
 * inherited by a fork's child, fresh in a signal handler and restored after
 * it, fresh again after execve — and long double arithmetic at the precision
 * they give.  One line per check. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned short cw(void)
{
    unsigned short v;
    __asm__ volatile("fnstcw %0" : "=m"(v));
    return v;
}

static unsigned mxcsr(void)
{
    unsigned v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v & 0xFFC0;                 /* the control bits, not the sticky flags */
}

static void set_state(unsigned short c, unsigned m)
{
    __asm__ volatile("fldcw %0" : : "m"(c));
    __asm__ volatile("ldmxcsr %0" : : "m"(m));
}

static volatile unsigned short in_cw;
static volatile unsigned in_mx;

static void handler(int sig)
{
    (void)sig;
    in_cw = cw();
    in_mx = mxcsr();
    set_state(0x007F, 0x9FC0);         /* the handler's own changes: undone by sigreturn */
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *who = argc > 1 ? "after execve" : "at start";
    printf("%s: cw %#06x mxcsr %#06x\n", who, cw(), mxcsr());
    volatile long double third = 1.0L;
    third /= 3;
    printf("%s: 1/3 as long double %.20Lf\n", who, third);
    if (argc > 1)
        return 0;
    set_state(0x0C7F, 0x7F80);         /* round toward zero, x87 and SSE */
    printf("changed: cw %#06x mxcsr %#06x\n", cw(), mxcsr());
    pid_t c = fork();
    if (c == 0) {
        printf("fork child: cw %#06x mxcsr %#06x\n", cw(), mxcsr());
        _exit(0);
    }
    waitpid(c, NULL, 0);
    signal(SIGUSR1, handler);
    raise(SIGUSR1);
    printf("in a handler: cw %#06x mxcsr %#06x\n", in_cw, in_mx);
    printf("after the handler: cw %#06x mxcsr %#06x\n", cw(), mxcsr());
    volatile double x = 1.0, y = 3.0;
    printf("toward zero: 1/3 = %.17g\n", x / y);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "again", (char *)NULL);
    printf("execve: failed\n");
    return 1;
}
