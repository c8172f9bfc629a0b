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
 *     without leaving the guest, and reaches `azemu_libos_entry` for the
 *     rest: the kernel's function hook sits on that address, serves the call,
 *     puts the result in rax, and the guest executes the `ret`.
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

    .data
    .balign 8
    .globl azemu_libos_pid, azemu_libos_tid, azemu_libos_ppid, azemu_libos_flags
azemu_libos_pid:    .quad 0        /* filled by the kernel at boot */
azemu_libos_tid:    .quad 0
azemu_libos_ppid:   .quad 0
azemu_libos_flags:  .quad 0        /* bit 0: answer getpid/gettid/getppid in the guest */
azemu_libos_in_guest_count: .quad 0

    .text
    .globl azemu_libos_syscall, azemu_libos_entry
    .type azemu_libos_syscall, @function
azemu_libos_syscall:
    testb   $1, azemu_libos_flags(%rip)
    jz      azemu_libos_entry
    cmp     $39, %eax                       /* getpid */
    je      .Lpid
    cmp     $186, %eax                      /* gettid */
    je      .Ltid
    cmp     $110, %eax                      /* getppid */
    je      .Lppid
azemu_libos_entry:                          /* the kernel's function hook */
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

/* long syscall(long number, ...): libc's generic wrapper, as a function call. */
    .globl syscall
    .type syscall, @function
syscall:
    mov     %rdi, %rax
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
    .size syscall, . - syscall

/* Trampolines: filled in by the rewriter (rewrite.py), one 64-byte slot per
 * rewritten site: the instructions the jump displaced, then
 *   lea -128(%rsp),%rsp; call azemu_libos_syscall; lea 128(%rsp),%rsp; jmp back */
    .section .text.azemu_tramp, "ax"
    .balign 64
    .globl azemu_libos_tramp, azemu_libos_tramp_end
azemu_libos_tramp:
    .fill   2048 * 64, 1, 0xcc
azemu_libos_tramp_end:

    .section .note.GNU-stack, "", @progbits
