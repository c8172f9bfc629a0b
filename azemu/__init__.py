"""azemu: an x86-64 machine emulator on Unicorn hosting the Azalea multikernel model.

The machine side lives here (cores, memory, ELF loading, crash reports, the
command line); the kernels it hosts live in the `kernels` package.

The Python API (azemu/api.py, docs/api.md) is this package's public surface:

    run(program, args=(), *, mode, cores, mem, root, readonly, stdin, env,
        trace, hooks, deterministic) -> Result
    run_machine(machine_dict_or_file, out_dir=None) -> {partition: Result}
    Result, Hooks, Call, Context, HookError, address_of(program, function)

They are imported when first used, so that `azemu exec` starts as fast
without them.
"""
__version__ = "0.1.0"
__all__ = ["run", "run_machine", "Result", "Hooks", "Call", "Context", "HookError", "address_of"]


def __getattr__(name):
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'azemu' has no attribute {name!r}")
