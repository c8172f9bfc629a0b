#include <stdio.h>
#include <unistd.h>
int main(void){
  long a, b;
  __asm__ volatile(
    "mov $39,%%eax\n\t"
    "jmp 1f\n\t"
    "1: syscall\n\t"        /* a branch target: its window grows after it ... */
    "push %%rax\n\t"
    "mov $39,%%eax\n\t"     /* ... over this, which is also the next site's prefix */
    "syscall\n\t"
    "pop %%r8\n\t"
    "mov %%rax,%1\n\t"
    "mov %%r8,%0\n\t"
    : "=r"(a), "=r"(b) :: "rax","rcx","r11","r8","memory");
  printf("same=%d\n", a == b && a == getpid());
  return 0;
}
