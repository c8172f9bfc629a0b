#include <stdio.h>
#include <unistd.h>
static int counter;
__attribute__((noinline)) void bump(void) { counter++; }
__attribute__((noinline)) static long raw(int n) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
  return r;
}
long (*volatile fp)(int) = raw;   /* raw is reached only through a pointer */
int main(void) {
  bump();
  printf("ok=%d\n", fp(39) == getpid());
  return 0;
}
