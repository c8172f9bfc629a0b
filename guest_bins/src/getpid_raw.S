/* getpid_raw: the getpid loop with no libc at all, for measuring the syscall
 * path alone.  Loop count: first argument (decimal), default 10000.
 * Exits 0 without printing, so the same binary runs natively, under azemu and
 * under the bare-Unicorn floor of benchmarks/syscall_floor.py. */
    .globl _start
    .text
_start:
    mov     $10000, %r12
    cmpq    $2, (%rsp)              /* argc >= 2 ? */
    jl      2f
    mov     16(%rsp), %rsi          /* argv[1] */
    xor     %r12, %r12
1:  movzbl  (%rsi), %eax
    sub     $'0', %eax
    cmp     $9, %eax
    ja      2f
    imul    $10, %r12, %r12
    add     %rax, %r12
    inc     %rsi
    jmp     1b
2:  test    %r12, %r12
    jz      4f
3:  mov     $39, %eax               /* SYS_getpid */
    syscall
    dec     %r12
    jnz     3b
4:  mov     $231, %eax              /* SYS_exit_group */
    xor     %edi, %edi
    syscall
