#include <stdio.h>
#include <unistd.h>
int main(void){
  unsigned long rcx, r11, here; unsigned char cf;
  __asm__ volatile(
    "lea 1f(%%rip),%2\n\t"
    "mov $-1,%%rcx\n\t"
    "stc\n\t"
    "mov $39,%%eax\n\t"
    "syscall\n\t"
    "1: setc %3\n\t"
    "mov %%rcx,%0\n\t"
    "mov %%r11,%1\n\t"
    : "=r"(rcx), "=r"(r11), "=r"(here), "=r"(cf) :: "rax","rcx","r11","memory");
  printf("rcx_is_next_rip=%d r11&0x1=%lu cf_after=%d\n", rcx == here, r11 & 1, cf);
  return 0;
}
