/* azemu libOS — the guest side of a source-compatible unikernel image.
 *
 * `azemu build` links this file into the program (kernels/libos/build.py).
 * In the image, a syscall is a function call into the libOS, never a trap:
 *
 *   - `syscall()` is defined here, so libc's own (which traps) is not linked;
 *   - every libc-internal `mov $NR, %eax; syscall` site is rewritten after
 *     linking into a jump to a per-site trampoline in `azemu_libos_tramp`
 *     (as HermiTux does), which calls `azemu_libos_syscall`;
 *   - `azemu_libos_syscall` answers a few calls whose answer lives in the
 *     libOS's own memory (getpid, gettid, getppid, when the kernel allows it)
 *     without leaving the guest.  For the rest it writes the number and the
 *     six arguments into its call block — plain stores: kernel and
 *     application share one address space — and reaches `azemu_libos_entry`,
 *     where the kernel's function hook sits.  The kernel reads the block
 *     straight from memory (no register traffic), serves the call, writes
 *     the result into the block, and the libOS loads it into rax and returns.
 *
 * Register convention of azemu_libos_syscall: the syscall ABI (number in rax,
 * arguments in rdi, rsi, rdx, r10, r8, r9, result in rax); rcx and r11 are
 * preserved (a trap would clobber them).  Trampolines step 128 bytes down
 * before calling, so the caller's red zone is never written.
 */
    .section .azemu_libos, "a"
    .balign 8
    /* The header the kernel reads (kernels/unikernel.py); layout is fixed. */
    .globl azemu_libos_header
azemu_libos_header:
    .ascii  "AZLIBOS1"
    .quad   azemu_libos_entry
    .quad   azemu_libos_syscall
    .quad   azemu_libos_pid
    .quad   azemu_libos_flags
    .quad   azemu_libos_in_guest_count
    .quad   azemu_libos_tramp
    .quad   azemu_libos_tramp_end
    .quad   azemu_libos_call

    .data
    .balign 8
    .globl azemu_libos_pid, azemu_libos_tid, azemu_libos_ppid, azemu_libos_flags
azemu_libos_pid:    .quad 0        /* filled by the kernel at boot */
azemu_libos_tid:    .quad 0
azemu_libos_ppid:   .quad 0
azemu_libos_flags:  .quad 0        /* bit 0: answer getpid/gettid/getppid in the guest */
azemu_libos_in_guest_count: .quad 0
    .globl azemu_libos_call
azemu_libos_call:   .quad 0, 0, 0, 0, 0, 0, 0, 0   /* nr, 6 arguments, result */

    .text
    .globl azemu_libos_syscall, azemu_libos_entry
    .type azemu_libos_syscall, @function
azemu_libos_syscall:
    testb   $1, azemu_libos_flags(%rip)
    jz      1f
    cmp     $39, %eax                       /* getpid */
    je      .Lpid
    cmp     $186, %eax                      /* gettid */
    je      .Ltid
    cmp     $110, %eax                      /* getppid */
    je      .Lppid
1:  mov     %rax, azemu_libos_call(%rip)
    mov     %rdi, azemu_libos_call+8(%rip)
    mov     %rsi, azemu_libos_call+16(%rip)
    mov     %rdx, azemu_libos_call+24(%rip)
    mov     %r10, azemu_libos_call+32(%rip)
    mov     %r8, azemu_libos_call+40(%rip)
    mov     %r9, azemu_libos_call+48(%rip)
azemu_libos_entry:                          /* the kernel's function hook */
    nop
    mov     azemu_libos_call+56(%rip), %rax
    ret
.Lpid:
    mov     azemu_libos_pid(%rip), %rax
    jmp     .Lcount
.Ltid:
    mov     azemu_libos_tid(%rip), %rax
    jmp     .Lcount
.Lppid:
    mov     azemu_libos_ppid(%rip), %rax
.Lcount:
    incq    azemu_libos_in_guest_count(%rip)
    ret
    .size azemu_libos_syscall, . - azemu_libos_syscall

/* long syscall(long number, ...): libc's generic wrapper, as a function call.
 * The calls answered in the guest are answered right here, without a second
 * call: every call/ret pair is an indirect branch for the emulator's JIT. */
    .globl syscall
    .type syscall, @function
syscall:
    testb   $1, azemu_libos_flags(%rip)
    jz      2f
    cmp     $39, %edi                       /* getpid */
    je      .Lspid
    cmp     $186, %edi                      /* gettid */
    je      .Lstid
    cmp     $110, %edi                      /* getppid */
    je      .Lsppid
2:  mov     %rdi, %rax
    mov     %rsi, %rdi
    mov     %rdx, %rsi
    mov     %rcx, %rdx
    mov     %r8, %r10
    mov     %r9, %r8
    mov     8(%rsp), %r9
    call    azemu_libos_syscall
    cmp     $-4095, %rax
    jae     1f
    ret
1:  push    %rax                            /* keeps the stack 16-byte aligned */
    call    __errno_location
    pop     %rcx
    neg     %ecx
    mov     %ecx, (%rax)
    mov     $-1, %rax
    ret
.Lspid:
    mov     azemu_libos_pid(%rip), %rax
    incq    azemu_libos_in_guest_count(%rip)
    ret
.Lstid:
    mov     azemu_libos_tid(%rip), %rax
    incq    azemu_libos_in_guest_count(%rip)
    ret
.Lsppid:
    mov     azemu_libos_ppid(%rip), %rax
    incq    azemu_libos_in_guest_count(%rip)
    ret
    .size syscall, . - syscall

/* Trampolines: filled in by the rewriter (rewrite.py), one 96-byte slot per
 * rewritten site: the instructions the jump displaced around
 *   lea -128(%rsp),%rsp; pushfq; call azemu_libos_syscall; popfq;
 *   (rcx, r11 as `syscall` leaves them); lea 128(%rsp),%rsp; jmp back */
    .section .text.azemu_tramp, "ax"
    .balign 64
    .globl azemu_libos_tramp, azemu_libos_tramp_end
azemu_libos_tramp:
    .fill   2048 * 96, 1, 0xcc
azemu_libos_tramp_end:

    .section .note.GNU-stack, "", @progbits
