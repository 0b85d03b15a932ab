#!/usr/bin/env bash
# Source the mounted Xilinx tools' settings (FINN's convention: FINN_XILINX_PATH, FINN_XILINX_VERSION),
# unless the environment already has them; then run the command.
set -e
if [ -z "${XILINX_VIVADO:-}" ] && [ -n "${FINN_XILINX_PATH:-}" ] && [ -n "${FINN_XILINX_VERSION:-}" ]; then
    for tool in Vivado Vitis_HLS Vitis; do
        s="$FINN_XILINX_PATH/$tool/$FINN_XILINX_VERSION/settings64.sh"
        # shellcheck disable=SC1090
        if [ -f "$s" ]; then source "$s"; fi
    done
fi
if [ -z "${XILINX_VIVADO:-}" ]; then
    echo "note: no Vivado in this container (mount it and set FINN_XILINX_PATH/FINN_XILINX_VERSION);" \
         "make compile works, make bitstream will say what is missing" >&2
fi
exec "$@"
