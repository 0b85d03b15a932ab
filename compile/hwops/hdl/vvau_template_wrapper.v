// Generated from compile/hwops/hdl/vvau_template_wrapper.v by compile/hwops/vvau_rtl.py:
// node $TOP_MODULE_NAME$, FINN's VVAU in RTL for non-Versal parts (vvau_core.sv), with AXI-stream
// ports named and padded to whole bytes as FINN's IP integration expects of every layer.
module $TOP_MODULE_NAME$ (
	//- Global Control ------------------
	(* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
	(* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF $BUSIF$, ASSOCIATED_RESET ap_rst_n" *)
	input	ap_clk,
	(* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
	input	ap_rst_n,
$WEIGHT_PORTS$
	//- AXI Stream - Input --------------
	output	in0_V_TREADY,
	input	in0_V_TVALID,
	input	[$IN_STREAM_BITS$-1:0]  in0_V_TDATA,

	//- AXI Stream - Output -------------
	input	out0_V_TREADY,
	output	out0_V_TVALID,
	output	[$OUT_STREAM_BITS$-1:0]  out0_V_TDATA
);

	wire [$W_STREAM_BITS$-1:0]  wdata;
	wire  wvalid;
	wire  wready;
$WEIGHT_SOURCE$
	wire [$PE$*$ACCU_WIDTH$-1:0]  odata;

	vvau_core #(
		.PE($PE$),
		.SIMD($SIMD$),
		.SF($SF$),
		.ACT_WIDTH($ACT_WIDTH$),
		.WEIGHT_WIDTH($WEIGHT_WIDTH$),
		.ACCU_WIDTH($ACCU_WIDTH$),
		.SIGNED_ACT($SIGNED_ACT$),
		.SIGNED_WEIGHTS($SIGNED_WEIGHTS$),
		.USE_DSP($USE_DSP$)
	) core (
		.clk(ap_clk),
		.rst(!ap_rst_n),
		.a_tdata(in0_V_TDATA[$PE$*$SIMD$*$ACT_WIDTH$-1:0]),
		.a_tvalid(in0_V_TVALID),
		.a_tready(in0_V_TREADY),
		.w_tdata(wdata[$PE$*$SIMD$*$WEIGHT_WIDTH$-1:0]),
		.w_tvalid(wvalid),
		.w_tready(wready),
		.y_tdata(odata),
		.y_tvalid(out0_V_TVALID),
		.y_tready(out0_V_TREADY)
	);

	assign	out0_V_TDATA = $OUT_TDATA$;  // sign-extended to whole bytes

endmodule
