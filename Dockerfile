# The Vivado environment for `make bitstream` (compile/ -> finn-plus's builder -> bitfile, driver,
# deployment package). Everything except the Xilinx tools, which are mounted from the host as FINN's
# own flow does (FINN_XILINX_PATH, FINN_XILINX_VERSION). The entrypoint sources their settings.
#
#   docker build -t amc-fpga-vivado .
#   docker run --rm -it -v "$PWD":/workspace/amc-fpga \
#       -v /tools/Xilinx:/tools/Xilinx:ro -e FINN_XILINX_PATH=/tools/Xilinx -e FINN_XILINX_VERSION=2024.2 \
#       amc-fpga-vivado make bitstream MODEL=runs/<name> BOARD=zcu104
#
# finn-plus fetches its own dependencies (finn-hlslib, board files) on its first build into
# FINN_DEPS (network needed then; mount a volume there to keep them) and builds its simulator
# bridge (XSI) against the mounted Vivado.
FROM ubuntu:22.04

ENV DEBIAN_FRONTEND=noninteractive TZ=Etc/UTC LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8
# Python 3.11 (finn-plus 1.6.1 and numpy 2.4 need >= 3.11); the libraries Vivado loads; a C++
# toolchain and CMake for finn-plus's XSI bridge; git/wget/unzip for its dependency fetcher.
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
        ca-certificates && \
    add-apt-repository -y ppa:deadsnakes/ppa && apt-get update && \
    apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3.11-dev build-essential make git wget unzip zip rsync \
        locales libtinfo5 libncurses5 libx11-6 libxext6 libxrender1 libxtst6 libxi6 libfreetype6 \
        fontconfig libglib2.0-0 libsm6 && \
    locale-gen en_US.UTF-8 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python3.11 -m venv /opt/venv && pip install --no-cache-dir --upgrade pip

WORKDIR /workspace/amc-fpga
COPY pyproject.toml README.md ./
COPY compile compile
COPY model model
COPY driver driver
# CPU torch first (finn-plus imports torch in its custom-op registry; the CUDA wheel is not needed),
# then the compile extra, then finn-plus without its pins (brevitas 0.13.0 breaks on torch 2.13),
# plus the CMake it declares for building XSI.
RUN pip install --no-cache-dir "torch==2.13.*" --index-url https://download.pytorch.org/whl/cpu && \
    pip install --no-cache-dir ".[compile,test]" && \
    pip install --no-cache-dir --no-deps "finn-plus==1.6.1" && \
    pip install --no-cache-dir "cmake>=4.0.3,<4.1" && \
    touch /opt/venv/.installed

# `make` inside the container uses this environment instead of creating .venv in the mounted repo
ENV MAKEFLAGS="PY=/opt/venv/bin/python STAMP=/opt/venv/.installed" \
    FINN_DEPS=/workspace/finn_deps \
    XILINX_LOCAL_USER_DATA=no

COPY docker/entrypoint.sh /usr/local/bin/amc-entrypoint
RUN chmod 755 /usr/local/bin/amc-entrypoint
ENTRYPOINT ["amc-entrypoint"]
CMD ["bash"]
