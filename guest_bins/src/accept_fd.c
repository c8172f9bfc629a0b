/* accept_fd: accept takes its descriptor number before it waits (Linux's
 * get_unused_fd_flags comes first).  A thread waits in accept on a listening
 * AF_UNIX socket; meanwhile main opens a file, which gets the next number,
 * and a dup2 onto the waiting accept's number is EBUSY; then main connects
 * and the accept returns the number it held.  Then a second accept waits
 * and a signal (no SA_RESTART) ends it with EINTR: its number is free again.
 * Numbers are printed relative to the lowest free one before each accept. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int lfd, afd = -1, aerr;

static void *acceptor(void *arg) {
    (void)arg;
    afd = accept(lfd, NULL, NULL);
    aerr = errno;
    return NULL;
}

static void on_usr1(int sig) { (void)sig; }

static int lowest_free(void) {
    int fd = dup(0);
    close(fd);
    return fd;
}

int main(void) {
    char dir[] = "/tmp/accept_fd-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sock", dir);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 1)) {
        perror("listen"); return 2;
    }
    int lowest = lowest_free();
    pthread_t t;
    if (pthread_create(&t, NULL, acceptor, NULL)) { perror("pthread_create"); return 2; }
    usleep(300000);                      /* the thread is waiting in accept by now */
    int o = open("/dev/null", O_RDONLY);
    printf("open while accept waits: lowest+%d\n", o - lowest);
    int d = syscall(SYS_dup2, 0, lowest);   /* (musl's dup2 retries while EBUSY) */
    printf("dup2 onto the waiting accept's number: %s\n",
           d >= 0 ? "ok" : errno == EBUSY ? "EBUSY" : strerror(errno));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr)) { perror("connect"); return 2; }
    pthread_join(t, NULL);
    printf("accept returned: lowest+%d\n", afd - lowest);
    close(o);
    close(c);
    close(afd);

    struct sigaction sa = {.sa_handler = on_usr1};          /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    lowest = lowest_free();
    if (pthread_create(&t, NULL, acceptor, NULL)) { perror("pthread_create"); return 2; }
    usleep(300000);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    printf("accept ended by a signal: %s\n", afd < 0 && aerr == EINTR ? "EINTR" : "not EINTR");
    o = open("/dev/null", O_RDONLY);
    printf("open after it: lowest+%d\n", o - lowest);
    unlink(addr.sun_path);
    rmdir(dir);
    return 0;
}
