// Generated from compile/hwops/hdl/stream_add_template_wrapper.v by compile/hwops/elementwise_rtl.py:
// node $TOP_MODULE_NAME$, FINN's ElementwiseAdd of two integer streams in RTL (stream_add.sv), with
// AXI-stream ports named and padded to whole bytes as FINN's IP integration expects of every layer.
module $TOP_MODULE_NAME$ (
	//- Global Control ------------------
	(* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
	(* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF in0_V:in1_V:out0_V, ASSOCIATED_RESET ap_rst_n" *)
	input	ap_clk,
	(* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
	input	ap_rst_n,

	//- AXI Streams ---------------------
	output	in0_V_TREADY,
	input	in0_V_TVALID,
	input	[$IN0_STREAM_BITS$-1:0]  in0_V_TDATA,
	output	in1_V_TREADY,
	input	in1_V_TVALID,
	input	[$IN1_STREAM_BITS$-1:0]  in1_V_TDATA,
	input	out0_V_TREADY,
	output	out0_V_TVALID,
	output	[$OUT_STREAM_BITS$-1:0]  out0_V_TDATA
);

	wire [$PE$*$OUT_BITS$-1:0]  odata;

	stream_add #(
		.PE($PE$),
		.LHS_BITS($LHS_BITS$),
		.LHS_SIGNED($LHS_SIGNED$),
		.RHS_BITS($RHS_BITS$),
		.RHS_SIGNED($RHS_SIGNED$),
		.OUT_BITS($OUT_BITS$)
	) impl (
		.clk(ap_clk),
		.rst_n(ap_rst_n),
		.lhs_tdata(in0_V_TDATA[$PE$*$LHS_BITS$-1:0]),
		.lhs_tvalid(in0_V_TVALID),
		.lhs_tready(in0_V_TREADY),
		.rhs_tdata(in1_V_TDATA[$PE$*$RHS_BITS$-1:0]),
		.rhs_tvalid(in1_V_TVALID),
		.rhs_tready(in1_V_TREADY),
		.out_tdata(odata),
		.out_tvalid(out0_V_TVALID),
		.out_tready(out0_V_TREADY)
	);

	assign	out0_V_TDATA = $OUT_TDATA$;  // zero-padded to whole bytes

endmodule
