/* stream_raw [ROUNDS]: memory streaming with no libc and no syscalls inside,
 * for measuring the cost of the memory path (benchmarks/memory_heavy.py).
 * Each round writes every 8-byte word of a 64 MiB buffer (.bss) and then
 * reads them all back into a sum, as a checksum or compressor streams through
 * its data.  ROUNDS: first argument (decimal), default 4.  Exits with the low
 * byte of the sum (deterministic), so the run can be checked. */
    .globl _start
    .text
_start:
    mov     $4, %r12
    cmpq    $2, (%rsp)
    jl      2f
    mov     16(%rsp), %rsi
    xor     %r12, %r12
1:  movzbl  (%rsi), %eax
    sub     $'0', %eax
    cmp     $9, %eax
    ja      2f
    imul    $10, %r12, %r12
    add     %rax, %r12
    inc     %rsi
    jmp     1b
2:  xor     %rbx, %rbx                  /* the sum */
    test    %r12, %r12
    jz      6f
3:  lea     buf(%rip), %rdi
    mov     $(64 << 17), %rcx           /* 64 MiB / 8 */
    mov     %r12, %rax
4:  mov     %rax, (%rdi)
    add     $0x3779B9, %rax
    add     $8, %rdi
    dec     %rcx
    jnz     4b
    lea     buf(%rip), %rdi
    mov     $(64 << 17), %rcx
5:  add     (%rdi), %rbx
    add     $8, %rdi
    dec     %rcx
    jnz     5b
    dec     %r12
    jnz     3b
6:  movzbl  %bl, %edi
    mov     $231, %eax
    syscall
    .bss
    .align  4096
buf:
    .skip   64 << 20
