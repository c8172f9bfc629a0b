/* hostsig MODE: a program other processes send signals to (tests/test_jobctl.py
 * sends them to it natively and to azemu running it).
 *
 *   ignored    print which of SIGINT, SIGQUIT, SIGHUP, SIGTERM it started with
 *              ignored (inherited through exec, as `nohup` and `cmd &` make them)
 *   handlers   handle SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGINT and SIGTERM; say
 *              "ready", then wait (sigsuspend) and name each signal as it comes,
 *              until SIGTERM; each handler runs on the main thread
 *   compute    say "ready", then compute without a single syscall, for ever
 *              (it ends by a signal's default action)
 *   handled-compute   the same with a SIGINT handler that counts (it never ends
 *              natively but by SIGKILL)
 *   children   fork two children in its own process group that wait in pause();
 *              say "ready" and wait for them: a SIGINT to the group ends all three */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got[65];
static volatile sig_atomic_t order[64], norder;

static void on_signal(int sig)
{
    got[sig]++;
    if (norder < 64)
        order[norder++] = sig;
}

static const char *name(int sig)
{
    switch (sig) {
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGHUP: return "SIGHUP";
    case SIGWINCH: return "SIGWINCH";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGQUIT: return "SIGQUIT";
    default: return "another";
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "ignored")) {
        int sigs[] = {SIGINT, SIGQUIT, SIGHUP, SIGTERM};
        for (int i = 0; i < 4; i++) {
            struct sigaction sa;
            sigaction(sigs[i], NULL, &sa);
            printf("%s: %s\n", name(sigs[i]), sa.sa_handler == SIG_IGN ? "ignored" : "default");
        }
        return 0;
    }
    if (!strcmp(mode, "handlers")) {
        int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGINT, SIGTERM};
        sigset_t all, none;
        sigemptyset(&all);
        for (int i = 0; i < 6; i++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigaction(sigs[i], &sa, NULL);
            sigaddset(&all, sigs[i]);
        }
        sigprocmask(SIG_BLOCK, &all, &none);
        printf("ready\n");
        fflush(stdout);
        int seen = 0;
        while (!got[SIGTERM]) {
            sigsuspend(&none);
            while (seen < norder)
                printf("got %s\n", name(order[seen++]));
            fflush(stdout);
        }
        printf("done\n");
        return 0;
    }
    if (!strcmp(mode, "compute") || !strcmp(mode, "handled-compute")) {
        if (mode[0] == 'h')
            signal(SIGINT, on_signal);
        printf("ready\n");
        fflush(stdout);
        volatile unsigned long x = 0;
        for (;;)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
    }
    if (!strcmp(mode, "children")) {
        for (int i = 0; i < 2; i++)
            if (fork() == 0) {
                pause();
                _exit(0);
            }
        printf("ready\n");
        fflush(stdout);
        int st;
        while (wait(&st) > 0)
            ;
        return 0;
    }
    fprintf(stderr, "usage: hostsig ignored|handlers|compute|handled-compute|children\n");
    return 2;
}
