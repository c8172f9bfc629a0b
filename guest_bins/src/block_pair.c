/* block_pair pipe|accept: one thread blocks while another thread of the same
 * process is the only one that can end the wait.
 *   pipe   - the main thread read()s an empty pipe; a second thread writes it
 *            after a short sleep (10 ms), 3 times.
 *   accept - the main thread accept4()s on a listening loopback socket; a
 *            second thread connects and sends a line.
 * Under an emulator that blocks the whole process in the host call, this hangs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];
static int port;

static void nap(void) { struct timespec t = {0, 10000000}; nanosleep(&t, NULL); }

static void *writer(void *a)
{
    (void)a;
    for (int i = 0; i < 3; i++) { nap(); char m[16]; int n = snprintf(m, sizeof m, "msg %d\n", i); if (write(pfd[1], m, n) != n) return NULL; }
    close(pfd[1]);
    return NULL;
}

static void *client(void *a)
{
    (void)a;
    nap();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 && write(s, "hello over loopback\n", 20) != 20)
        perror("write");
    close(s);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t;
    char buf[64];
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "accept")) {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        if (bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &len)) return 1;
        port = ntohs(sa.sin_port);
        pthread_create(&t, NULL, client, NULL);
        int c = accept4(l, NULL, NULL, 0);
        ssize_t n = read(c, buf, sizeof buf);
        printf("accepted: %s, read %zd bytes: %.*s", c >= 0 ? "yes" : "no", n, (int)(n > 0 ? n : 0), buf);
        pthread_join(t, NULL);
        return 0;
    }
    if (pipe(pfd)) return 1;
    pthread_create(&t, NULL, writer, NULL);
    ssize_t n;
    while ((n = read(pfd[0], buf, sizeof buf)) > 0) printf("read %zd: %.*s", n, (int)n, buf);
    printf("EOF\n");
    pthread_join(t, NULL);
    return 0;
}
