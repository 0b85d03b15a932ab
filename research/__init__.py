"""Research probes: the commands behind figures and decisions recorded in docs/ (the generator's calibration,
its high-SNR plateau, PSK separability, the real frame's statistics, the real-trained critics' sweeps, the
MVAU_rtl output-queue sweep, the GPU baseline curve). Each runs from the repository root as
`python -m research.<name> --help` (research/gpu_baseline_curve.sh as a shell script). What they share lives in
the package (model.synth.variants, model.synth.proxy, model.synth.critic); nothing imports a probe, and this
folder is not installed (pyproject.toml's packages leave it out). scripts/ holds the tools the Makefile and the
docs tell users to run.
"""
