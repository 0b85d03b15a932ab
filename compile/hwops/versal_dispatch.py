"""FinnOnVersal: one of finn-plus's RTL ops that keeps finn-plus's implementation on Versal parts and has a
datapath of ours (TemplateRTL) everywhere else.

finn-plus keys weight files, memstreams, folding and IODMA insertion on op type names, so our datapath lives
under finn-plus's op type (a subclass registered in its place, compile/hwops/__init__.py) rather than a new
one. Code generation goes by the part it is given and records which implementation it wrote in the node
attribute `rtl_variant`; the file list and the IP integrator commands, asked later without a part, follow
that record; the estimates go by the part they are asked for.
"""
from __future__ import annotations

from finn.util.basic import is_versal

from .template_rtl import RegistersOnly, TemplateRTL

VARIANT_ATTR = "rtl_variant"  # which implementation generate_hdl wrote ("" before code generation)
VARIANT_FINN = "finn"
VARIANT_GENERIC = "generic"


class FinnOnVersal(TemplateRTL):
    """Mixin (before finn-plus's class, FINN, among the bases): finn-plus's code generation and estimates on
    Versal, TemplateRTL's and the generic_* estimates elsewhere."""

    FINN: type = object

    def get_nodeattr_types(self):
        attrs = self.FINN.get_nodeattr_types(self)
        attrs[VARIANT_ATTR] = ("s", False, "", {"", VARIANT_FINN, VARIANT_GENERIC})
        return attrs

    def is_generic(self) -> bool:
        return self.get_nodeattr(VARIANT_ATTR) == VARIANT_GENERIC

    def _written_by(self) -> type:
        return TemplateRTL if self.is_generic() else self.FINN

    def generate_hdl(self, model, fpgapart, clk):
        versal = is_versal(fpgapart)
        self.set_nodeattr(VARIANT_ATTR, VARIANT_FINN if versal else VARIANT_GENERIC)
        return (self.FINN if versal else TemplateRTL).generate_hdl(self, model, fpgapart, clk)

    def get_rtl_file_list(self, abspath=False):
        return self._written_by().get_rtl_file_list(self, abspath)

    def get_verilog_paths(self):
        return self._written_by().get_verilog_paths(self)

    def code_generation_ipi(self):
        return self._written_by().code_generation_ipi(self)

    def _estimate(self, name: str, fpgapart):
        if is_versal(fpgapart):
            return getattr(self.FINN, name)(self, fpgapart)
        return getattr(self, f"generic_{name}")(fpgapart)

    def lut_estimation(self, fpgapart):
        return self._estimate("lut_estimation", fpgapart)

    def bram_estimation(self, fpgapart):
        return self._estimate("bram_estimation", fpgapart)

    def uram_estimation(self, fpgapart):
        return self._estimate("uram_estimation", fpgapart)

    def dsp_estimation(self, fpgapart):
        return self._estimate("dsp_estimation", fpgapart)

    # ours, unless an op says otherwise: registers and LUTs only
    generic_bram_estimation = RegistersOnly.bram_estimation
    generic_uram_estimation = RegistersOnly.uram_estimation
    generic_dsp_estimation = RegistersOnly.dsp_estimation
