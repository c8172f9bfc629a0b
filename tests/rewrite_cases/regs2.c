#include <stdio.h>
int main(void){
  unsigned long rcx, r11;
  __asm__ volatile("mov $0x1234,%%rcx\n\t mov $0x5678,%%r11\n\t mov $39,%%eax\n\t syscall\n\t mov %%rcx,%0\n\t mov %%r11,%1"
    : "=r"(rcx), "=r"(r11) :: "rax","rcx","r11","memory");
  printf("rcx_changed=%d r11_if=%#lx\n", rcx != 0x1234, r11 & 0x200);  /* other flags vary natively */
  return 0;
}
