/* sysvipc: System V shared memory, semaphores and message queues between a
 * process and its children, each check one line. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

union semun { int val; struct semid_ds *buf; unsigned short *array; };

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static void shared_memory(void)
{
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    printf("shmget: %s\n", id >= 0 ? "an id" : errno_name(errno));
    char *a = shmat(id, NULL, 0);
    printf("shmat: %s\n", a == (void *)-1 ? errno_name(errno) : "mapped");
    printf("fresh segment is zero: %s\n", a[0] == 0 && a[9999] == 0 ? "yes" : "no");
    strcpy(a, "parent");
    pid_t c = fork();
    if (c == 0) {
        printf("child sees: %s\n", a);
        strcpy(a, "child wrote this");
        char *b = shmat(id, NULL, SHM_RDONLY);
        printf("second attachment sees the same: %s\n", b);
        shmdt(b);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("parent sees: %s\n", a);
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    printf("IPC_STAT: size %zu, attached %lu, mode %o\n", (size_t)ds.shm_segsz, (unsigned long)ds.shm_nattch,
           ds.shm_perm.mode & 0777);
    ds.shm_perm.mode = 0640;
    printf("IPC_SET mode: %s\n", res(shmctl(id, IPC_SET, &ds)));
    shmctl(id, IPC_STAT, &ds);
    printf("mode now %o\n", ds.shm_perm.mode & 0777);
    printf("shmdt: %s\n", res(shmdt(a)));
    printf("shmdt again: %s\n", res(shmdt(a)));
    printf("IPC_RMID: %s\n", res(shmctl(id, IPC_RMID, NULL)));
    printf("shmat after removal: %s\n", shmat(id, NULL, 0) == (void *)-1 ? errno_name(errno) : "mapped");
    key_t key = 0x5a5a0001;
    int k1 = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    printf("by key, created: %s\n", k1 >= 0 ? "yes" : errno_name(errno));
    printf("by key again, IPC_EXCL: %s\n", res(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)));
    printf("by key, found: %s\n", shmget(key, 0, 0) == k1 ? "the same id" : "another");
    printf("by key, bigger than it is: %s\n", res(shmget(key, 8192, 0)));
    printf("a key nobody made: %s\n", res(shmget(0x5a5a0099, 4096, 0)));
    shmctl(k1, IPC_RMID, NULL);
    printf("shmget size 0: %s\n", res(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600)));
}

static void semaphores(void)
{
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    printf("semget: %s\n", id >= 0 ? "an id" : errno_name(errno));
    union semun arg = {.val = 1};
    long sv = semctl(id, 0, SETVAL, arg);
    printf("SETVAL: %s, GETVAL %d\n", res(sv), semctl(id, 0, GETVAL));
    struct sembuf down = {0, -1, 0}, up = {0, 1, 0}, nowait = {0, -1, IPC_NOWAIT};
    printf("semop down: %s\n", res(semop(id, &down, 1)));
    printf("down again, IPC_NOWAIT: %s\n", res(semop(id, &nowait, 1)));
    struct timespec ts = {0, 20000000};
    printf("down again, 20 ms: %s\n", res(semtimedop(id, &down, 1, &ts)));
    pid_t c = fork();
    if (c == 0) {
        struct timespec nap = {0, 30000000};
        nanosleep(&nap, NULL);
        semop(id, &up, 1);
        _exit(0);
    }
    printf("down, waiting for the child's up: %s\n", res(semop(id, &down, 1)));
    waitpid(c, NULL, 0);
    unsigned short all[2] = {3, 4};
    arg.array = all;
    semctl(id, 0, SETALL, arg);
    unsigned short back[2] = {0, 0};
    arg.array = back;
    semctl(id, 0, GETALL, arg);
    printf("SETALL/GETALL: %u %u\n", back[0], back[1]);
    struct sembuf two[2] = {{0, -3, 0}, {1, -5, IPC_NOWAIT}};
    long both = semop(id, two, 2);
    printf("all-or-nothing when one cannot: %s", res(both));
    printf(", values still %d %d\n", semctl(id, 0, GETVAL), semctl(id, 1, GETVAL));
    c = fork();
    if (c == 0) {
        struct sembuf take = {1, -4, SEM_UNDO};
        semop(id, &take, 1);
        printf("child took 4 with SEM_UNDO: %d left\n", semctl(id, 1, GETVAL));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("undone when the child ended: %d\n", semctl(id, 1, GETVAL));
    printf("GETPID is the last to operate: %s\n", semctl(id, 1, GETPID) == c ? "the child" : "another");
    struct sembuf zero = {0, 0, IPC_NOWAIT};
    printf("wait-for-zero on 3, IPC_NOWAIT: %s\n", res(semop(id, &zero, 1)));
    struct sembuf bad = {5, 1, 0};
    printf("semop on a semaphore it does not have: %s\n", res(semop(id, &bad, 1)));
    c = fork();
    if (c == 0) {
        struct sembuf wait_long = {0, -100, 0};
        long r = semop(id, &wait_long, 1);
        printf("a waiter when the set is removed: %s\n", res(r));
        _exit(0);
    }
    struct timespec nap = {0, 30000000};
    nanosleep(&nap, NULL);
    int removed = semctl(id, 0, IPC_RMID);
    waitpid(c, NULL, 0);                        /* the waiter speaks first */
    printf("IPC_RMID: %s\n", res(removed));
}

struct msg { long mtype; char text[64]; };

static void queues(void)
{
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    printf("msgget: %s\n", id >= 0 ? "an id" : errno_name(errno));
    struct msg m = {2, "second type"};
    msgsnd(id, &m, strlen(m.text) + 1, 0);
    m.mtype = 1;
    strcpy(m.text, "first type");
    msgsnd(id, &m, strlen(m.text) + 1, 0);
    m.mtype = 3;
    strcpy(m.text, "third");
    msgsnd(id, &m, strlen(m.text) + 1, 0);
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    printf("IPC_STAT: %lu messages\n", (unsigned long)ds.msg_qnum);
    struct msg r;
    long n = msgrcv(id, &r, sizeof r.text, 1, 0);
    printf("msgrcv type 1: %ld, %s\n", n, r.text);
    n = msgrcv(id, &r, sizeof r.text, -3, 0);
    printf("msgrcv lowest type <= 3: type %ld, %s\n", r.mtype, r.text);
    n = msgrcv(id, &r, 2, 0, 0);
    printf("msgrcv too small: %s\n", res(n));
    n = msgrcv(id, &r, 2, 0, MSG_NOERROR);
    printf("msgrcv MSG_NOERROR: %ld\n", n);
    printf("msgrcv empty, IPC_NOWAIT: %s\n", res(msgrcv(id, &r, sizeof r.text, 0, IPC_NOWAIT)));
    pid_t c = fork();
    if (c == 0) {
        struct timespec nap = {0, 30000000};
        nanosleep(&nap, NULL);
        struct msg cm = {7, "from the child"};
        msgsnd(id, &cm, strlen(cm.text) + 1, 0);
        _exit(0);
    }
    n = msgrcv(id, &r, sizeof r.text, 7, 0);
    printf("msgrcv waiting for the child: %s\n", r.text);
    waitpid(c, NULL, 0);
    m.mtype = 0;
    printf("msgsnd type 0: %s\n", res(msgsnd(id, &m, 4, 0)));
    printf("IPC_RMID: %s\n", res(msgctl(id, IPC_RMID, NULL)));
    printf("msgsnd after removal: %s\n", res(msgsnd(id, &m, 4, 0)));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    shared_memory();
    semaphores();
    queues();
    printf("done\n");
    return 0;
}
