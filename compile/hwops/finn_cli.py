"""finn-plus's `finn` CLI with our HW ops (compile/hwops) registered, for `make bitstream`.

finn-plus looks custom ops up in its own registries only, and its build spawns fresh interpreters
("spawn" start method) for parallel work: qonnx's NodeLocalTransformation workers (HLSSynthIP,
PrepareRTLSim) and ZynqBuild's per-partition kernel builds. Registering in a custom build step would
reach none of those. Run as a script (`python compile/hwops/finn_cli.py build ...`), this module is the
build's main module, which multiprocessing re-imports (as __mp_main__) in every spawned worker before
it runs any task: the registration below therefore happens in the CLI process (also after finn-plus
re-executes itself to fix LD_LIBRARY_PATH, since argv[0] is this file) and in each of its workers.
"""
from compile.hwops import register

register()

if __name__ == "__main__":
    from finn.interface.run_finn import main

    main()
